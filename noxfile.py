"""Developer sessions: ``nox -s tests typecheck lint examples docs bench``."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["tests", "typecheck", "lint"]
ROOT = Path(__file__).parent


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite with branch coverage (fails under 95 %)."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over src, tests, examples, benchmarks and this file."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint and format check."""
    session.install("-e", ".[dev]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def examples(session: nox.Session) -> None:
    """Run every script in examples/ (send_real_email.py starts an aiosmtpd server: dev extra)."""
    session.install("-e", ".[dev]")
    for script in sorted((ROOT / "examples").glob("*.py")):
        session.run("python", str(script))


@nox.session
def docs(session: nox.Session) -> None:
    """Execute the Python code blocks of README.md and docs/, then build the site into site/.

    The build is ``--strict``: a broken link or anchor, a page missing from
    the navigation or a docstring griffe cannot read fails the session.
    ``mkdocs serve`` previews the same site while you write.
    """
    session.install("-e", ".[dev]")
    session.run("python", "-m", "pytest", "--no-cov", "tests/docs")
    session.run("python", "-m", "mkdocs", "build", "--strict", "--site-dir", str(ROOT / "site"))


@nox.session
def faults(session: nox.Session) -> None:
    """The fault suite (``tests/distributed``) at the issue's full size.

    The normal test run has it smaller: 200 API triggers and one worker kill
    instead of 2,000 and two; a native-worker run of 50,000 profiles and 3
    kills instead of 200,000 and 10; a Celery run (on Redis, then on RabbitMQ) of
    20,000 profiles and 3 kills instead of 200,000 and 10; a Dask executor run of
    15,000 profiles and 3 kills instead of 200,000 and 10.
    """
    session.install("-e", ".[dev]")
    full = {"CAMPAIGNKIT_TRIGGER_FAULTS": "2000", "CAMPAIGNKIT_TRIGGER_KILLS": "2"}
    full |= {"CAMPAIGNKIT_FAULT_PROFILES": "200000", "CAMPAIGNKIT_FAULT_KILLS": "10"}
    full |= {"CAMPAIGNKIT_CELERY_FAULT_PROFILES": "200000", "CAMPAIGNKIT_CELERY_FAULT_KILLS": "10"}
    full |= {"CAMPAIGNKIT_DASK_FAULT_PROFILES": "200000", "CAMPAIGNKIT_DASK_FAULT_KILLS": "10"}
    session.run(
        "python", "-m", "pytest", "--no-cov", "-s", "tests/distributed", *session.posargs, env=full
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks (never part of the test run) and sum up every ratio with its target.

    Each ``benchmarks/bench_*.py`` prints its numbers and its ratios, each
    with ``(target ...)``; the session repeats those lines at the end, with
    every script's "all targets met" line. ``nox -s bench -- delivery trigger``
    runs only the scripts whose names contain one of the words.
    """
    session.install("-e", ".[postgres,queue]")  # psycopg, procrastinate (skip with no server)
    scripts = sorted((ROOT / "benchmarks").glob("bench_*.py"))
    if session.posargs:
        scripts = [s for s in scripts if any(word in s.stem for word in session.posargs)]
    if not scripts:
        session.log("no benchmarks to run")
    summary: list[str] = []
    for script in scripts:
        output = session.run("python", str(script), silent=True) or ""
        print(output, end="", flush=True)
        summary += [
            f"{script.stem}: {line.strip()}"
            for line in output.splitlines()
            if "(target" in line or line.startswith("all targets met")
        ]
    for line in summary:
        session.log(line)
