"""Approval workflow tests (SPEC sections 2 and 7), driven through the kit, split by concern from
one module.

A manager ("max", MANAGER) drafts, an approver ("april", APPROVER, directly or through a group)
reviews, an administrator ("ada") manages approval policies. Time only moves when a test says
so (``ManualClock`` from ``make_world``)."""
