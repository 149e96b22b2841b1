"""A checked boundary for authoring: value constructors and authoring/admin verbs (issue 10),
split by concern.

Each known failure of the issue, and the main wrong-type and size cases of
each verb, is refused with a ``ValidationError`` naming the argument before
anything is stored; the in-memory kit and a kit on a SQLite file give the
same outcome and keep the same state. The property suite
(``tests/unit/boundary_properties``) throws random junk at the same verbs; these
tests pin the messages and the documented limits.
"""
