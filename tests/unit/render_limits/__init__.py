"""Bounded rendering (issue 10, item 5): templates cannot exhaust time, memory or output; split
by concern from one module.

A template that breaks a limit whatever the data is refused at activation; one
that breaks it only for some recipients fails those messages (FAILED, with the
reason) while the tick returns and the others are delivered. No object
``repr`` (and no memory address) can reach a message. Limits are configurable
through ``ck.DeliverySettings(render_limits=ck.RenderLimits(...))``.
"""
