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
    """Execute the Python code blocks of README.md and docs/."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "pytest", "--no-cov", "tests/docs")


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks (never part of the test run); each prints its ratios."""
    session.install("-e", ".")
    scripts = sorted((ROOT / "benchmarks").glob("bench_*.py"))
    if not scripts:
        session.log("no benchmarks yet")
    for script in scripts:
        session.run("python", str(script))
