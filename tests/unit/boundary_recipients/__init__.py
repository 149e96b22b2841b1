"""A checked boundary for profiles, recipients, triggers and delivery verbs (issue 10), split by
concern from one module.

Each known failure of the issue, and each argument of the verbs in this area,
is refused with a ``ValidationError`` naming the argument before anything is
stored; the in-memory kit and a kit on a SQLite file refuse exactly the same
things. The property suite (``tests/unit/boundary_properties/``) throws random
junk at the same verbs; these tests pin the messages and the limits.
"""
