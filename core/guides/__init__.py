"""The guide editor's domain core: service guides with versions, review and rollback, in the database.

    store.py       guides and versions: drafts, submit, publish (reviewer right), rollback, diff, the YAML seed,
                   revision()/published_guides() that every process follows
    diff.py        field-level differences between two versions
    live.py        follow_store(): this process serves the published guides (knowledge/live.py does the index)
    hittest.py     which guide and passage would answer a question, published vs draft; the evaluation set
    unanswered.py  questions the assistant could not answer, masked, grouped by similarity, ranked by count
    transfer.py    import and export: YAML and a spreadsheet (CSV) of the standard guide elements
    errors.py      GuideStoreError and its subclasses (code + Chinese message)

No HTTP here (connectors/editor/ is the console and its API); imports nothing from connectors/ or actions/.
"""
from core.guides.errors import GuideNotFound, GuideStoreError, InvalidGuide, InvalidInput, InvalidState, NotAllowed

__all__ = ["GuideNotFound", "GuideStoreError", "InvalidGuide", "InvalidInput", "InvalidState", "NotAllowed"]
