"""AJO fidelity (issue 16): the documented samples, answers, limits and error documents."""
