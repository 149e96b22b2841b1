"""AJO-compatible payloads (SPEC section 9, issue 7), split by concern from one module: the JSON
bodies of AJO's unitary and audience execution requests are accepted as-is, malformed bodies
raise one ``ValidationError`` whose problems name JSON paths, responses have AJO's shapes, and
``error_response`` turns every campaignkit error into AJO's error shape.
"""
