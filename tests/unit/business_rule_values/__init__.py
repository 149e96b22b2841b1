"""Business-rule values (SPEC section 5): quiet hours, frequency caps, zones and waves,
split by concern.

Pure tests of ``campaignkit.domain.rules`` and ``campaignkit.domain.waves``:
validation says what is wrong, quiet hours release at the first minute that is
not quiet (in the rule's or the recipient's zone), recipient zones fall back
to the campaign's, and waves place every profile in at most one wave without
overfilling any.
"""
