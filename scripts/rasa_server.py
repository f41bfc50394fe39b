"""Run the Rasa CLI (Python 3.10 venv) with one measured performance fix.

Rasa 3.6 validates every action-server response with `jsonschema.validate`, which re-checks the whole
response schema against the JSON-Schema metaschema on each call. Profiling bench/turns.py showed that
this took ~58% of the Rasa server's CPU on turns that run a custom action. Here the validator is built
once and reused: responses are still validated against the same schema, with the same errors.

Usage (as the supervisor does): .venv/rasa/bin/python scripts/rasa_server.py run --model ... [rasa args]
"""
from __future__ import annotations

import sys
from typing import Any, Dict


def _install_cached_response_validator() -> None:
    from jsonschema import ValidationError
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    original = RemoteAction._validate_action_result

    def _validate_action_result(self: RemoteAction, result: Dict[str, Any]) -> bool:
        try:
            validator.validate(result)
        except ValidationError:
            return original(self, result)  # let Rasa raise its own, fully explained error
        return True

    RemoteAction._validate_action_result = _validate_action_result


if __name__ == "__main__":
    _install_cached_response_validator()
    from rasa.__main__ import main

    sys.exit(main())
