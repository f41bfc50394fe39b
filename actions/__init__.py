"""Custom actions served by the rasa-sdk action server (Python 3.11), one module per capability."""
from actions import basics, knowledge  # noqa: F401  (imported so the action server registers every action)
from actions import applications, status  # noqa: F401  (一表申请 and 办件进度)
from actions import handoff, tickets  # noqa: F401  (the way to a human agent; 工单 intake)
