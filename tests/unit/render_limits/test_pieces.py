"""The pieces of bounded rendering: ranges, text builders, lists and numbers, no object
becoming text, loops and macros, the message cap, nesting, budgets, the sandbox, and proofs and
checks rendering with the kit's limits."""

from __future__ import annotations

from typing import Any

import jinja2
import pytest

import campaignkit as ck
from campaignkit.delivery import render as render_module
from campaignkit.delivery.budget import (
    Budget,
    LimitExceeded,
    current_budget,
    end_budget,
    start_budget,
)
from campaignkit.delivery.builders import (
    capped_range,
    printf_length,
)
from campaignkit.delivery.render import (
    CompiledContent,
    MissingAttribute,
    check_template,
    compile_template,
    new_environment,
)
from campaignkit.delivery.sandbox import (
    BoundedSandbox,
)
from tests.unit.render_limits.support import (
    DEEP_PARENS,
    NESTED_LOOPS,
    NOTS,
    SMALL,
    C,
    failure,
    render,
)

# ---------------------------------------------------------------- the pieces


def test_range_is_capped_by_the_active_budget_or_the_default() -> None:
    assert len(capped_range(10_000)) == 10_000
    assert list(capped_range(10, 0, -3)) == [10, 7, 4, 1]
    with pytest.raises(LimitExceeded, match="range too big"):
        capped_range(10_001)
    budget, token = start_budget(SMALL)
    try:
        assert current_budget() is budget
        with pytest.raises(LimitExceeded, match="the limit is 50"):
            capped_range(0, 200, 2)
    finally:
        end_budget(token)
    assert current_budget() is not budget


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{{ 'ab'.center(2000) }}", "center() would build 2,000"),
        ("{{ 'ab'.zfill(2000) }}", "zfill() would build 2,000"),
        ("{{ 'a\tb'.expandtabs(2000) }}", "expandtabs() would build 2,003"),
        ("{{ 'aaaa'.replace('a', 'x' * 500) }}", "replace() would build 2,000"),
        ("{{ 'aaaa'.replace('', 'x' * 500, 3) }}", "replace() would build 1,504"),
        ("{{ 'aaaa'.translate({97: 'x' * 300}) }}", "translate() would build 1,200"),
        ("{{ '-'.join(['x' * 400] * 3) }}", "join() would build 1,203"),
        ("{{ 'ab'.encode().center(2000) }}", "center() would build 2,000"),
        ("{{ '{:{}}'.format(1, 2000) }}", "format() would build 2,000"),
        ("{{ '{n:.2000f}'.format_map({'n': 1.5}) }}", "format() would build 2,000"),
        ("{{ ('{}{}'|safe).format('x' * 600, 'y' * 600) }}", "format() would build 1,200"),
        ("{{ '%*d' % (2000, 1) }}", "'%' formatting would build"),
        ("{{ '%(a)s%(a)s' % {'a': 'x' * 600} }}", "'%' formatting would build 1,210"),
        ("{{ '%r' % ('x' * 300) }}", "'%' formatting would build 1,204"),
        ("{{ 'x' * 600 + 'y' * 600 }}", "'+' would build 1,200"),
        ("{{ profile.s|indent(2000) }}", "|indent would build"),
        ("{{ profile.s|indent('-' * 600) }}", "|indent would build"),
        ("{{ 'a b c d'|wordwrap(1, wrapstring='-' * 300) }}", "|wordwrap would build"),
        ("{{ 'aaaa'|replace('a', 'x' * 500) }}", "|replace would build 2,000"),
        ("{{ 'aaaa'|replace('a', 'x' * 500, 2) }}", "|replace would build 1,002"),
        ("{{ (['x' * 400] * 3)|join('-') }}", "|join would build"),
        ("{{ ['x' * 600, 'y' * 600]|sum(start='') }}", "'+' would build 1,200"),
        ("{{ lipsum(5, min=10, max=20) }}", "lipsum() would build"),
        ("{{ ('x' * 900)|upper|center(950) }}{{ 'y' * 200 }}", "message too long"),
    ],
)
def test_every_text_builder_is_capped_before_it_builds(source: str, reason: str) -> None:
    assert reason in failure(source, s="a\nb\nc")


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("{{ [0] * 100001 }}", "'*' would build more than 100000 items"),
        ("{{ 'ab'.encode() * 50001 }}", "'*' would build more than 100000 items"),
        ("{{ 100000**64 * 100000**64 * 100000**64 * 100000**64 }}", "wider than 4096 bits"),
        ("{{ ([0] * 60000) + ([0] * 60000) }}", "'+' would build more than 100000 items"),
        ("{{ [[0] * 60000, [0] * 60000]|sum(start=[]) }}", "'+' would build more than 100000"),
        ("{{ [1]|batch(100001, 0)|list }}", "count above 100000"),
        ("{{ [1]|slice(100001)|list }}", "count above 100000"),
        ("{{ 2 ** 65 }}", "'**' with such large operands"),
    ],
)
def test_lists_and_numbers_stay_bounded(source: str, error: str) -> None:
    assert error in failure(source, ck.RenderLimits(max_steps=10**6))


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("{{ profile }}", "a dict"),
        ("{{ profile.tags }}", "a list"),
        ("{{ profile.tags|map('upper') }}", "a list"),
        ("{{ profile.items }}", "a function or method"),
        ("{{ namespace(a=1) }}", "a Namespace object"),
        ("{{ 'x' ~ profile.tags }}", "a list"),
        ("{{ '{}'.format(profile.tags) }}", "a list"),
        ("{{ '%s' % (profile.tags,) }}", "a list"),
        ("{{ '%s'|format(profile) }}", "a dict"),
        ("{{ profile.tags|string }}", "a list"),
        ("{{ 'a'|replace('a', profile.tags) }}", "a list"),
        ("{{ [profile.tags]|join(',') }}", "a list"),
        ("{{ [1]|join(profile) }}", "a dict"),
        ("{{ [range]|tojson }}", "a function or method"),
        ("{{ {'a': profile.items}|pprint }}", "a function or method"),
        ("{{ {'a': cycler}|xmlattr }}", "a function or method"),
    ],
)
def test_no_object_becomes_text(source: str, kind: str) -> None:
    reason = failure(source, ck.RenderLimits(), tags=["a", "b"])
    assert f"cannot print {kind}" in reason
    assert " at 0x" not in reason


def test_data_filters_and_joins_still_work_on_plain_data() -> None:
    profile: dict[str, Any] = {"tags": ["b", "a"], "n": 3, "d": {"k": "v"}}
    assert render("{{ profile.tags|sort|join(',') }}", **profile) == "a,b"
    assert render("{{ profile.d|pprint }}", **profile) == "{'k': 'v'}"
    assert render("{{ profile.d|xmlattr }}", **profile) == ' k="v"'
    assert render("{{ profile.d|urlencode }}", **profile) == "k=v"
    assert render("{{ profile.tags|map('upper')|list|join }}", **profile) == "BA"
    assert render("{{ (profile.tags|map('upper'))|first }}", **profile) == "B"
    assert render("{{ profile.tags|length }}{{ profile.tags|last }}", **profile) == "2a"
    assert render("{{ [profile.d]|join(',', attribute='k') }}", **profile) == "v"
    assert render("{{ [profile.d, profile.d]|sum(attribute='k', start='') }}", **profile) == "vv"
    assert render("{{ profile.tags.index('a') }}{{ profile.tags[:1]|join }}", **profile) == "1b"
    assert render("{{ '%s-%s' % ('a', 1) }}{{ 7 % 4 }}{{ '%%' % () }}", **profile) == "a-13%"
    assert render("{{ 'ab'.encode().center(4).decode() }}", ck.RenderLimits()) == " ab "
    assert render("{{ 'a'.replace(1, 2) if false else 'ok' }}", **profile) == "ok"
    assert render("{{ profile.tags|batch(1)|list|length }}", **profile) == "2"


def test_loops_and_macros_pay_for_their_bodies() -> None:
    tiny = ck.RenderLimits(max_steps=100)
    assert render("{% for i in range(20) %}{{ i }}{% endfor %}", tiny).startswith("0123")
    assert "render budget exceeded" in failure(
        "{% for i in range(20) %}{{ i }}{{ i }}{{ i }}{{ i }}{% endfor %}", tiny
    )
    filtered = "{% for i in range(10) if i > 100 %}{{ i }}{% endfor %}"
    assert render(filtered, tiny) == ""
    assert "render budget exceeded" in failure(filtered.replace("10", "200"), tiny)
    recursive = "{% for n in profile.tree recursive %}{{ n.name }}{{ loop(n.kids) }}{% endfor %}"
    tree = [{"name": "a", "kids": [{"name": "b", "kids": []}]}]
    assert render(recursive, tiny, tree=tree) == "ab"
    wide = [{"name": "x", "kids": [{"name": "y", "kids": []}] * 40}]
    assert "render budget exceeded" in failure(recursive, tiny, tree=wide)
    caller = "{% macro box() %}[{{ caller() }}]{% endmacro %}{% call box() %}in{% endcall %}"
    assert render(caller, tiny) == "[in]"
    endless = "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"
    assert "template recursion too deep" in failure(endless, ck.RenderLimits(max_steps=10**9))
    assert "render budget exceeded" in failure(
        "{{ (range(40)|list)[0:40]|join }}{{ (range(40)|list)[0:40]|join }}", tiny
    )


def test_the_message_cap_counts_every_field_together() -> None:
    content = CompiledContent.of(
        {"subject": "{{ profile.s }}", "html": "<p>{{ profile.s|upper }}</p>"}
    )
    assert content.render({"s": "x" * 400}, {}, SMALL)["html"] == f"<p>{'X' * 400}</p>"
    with pytest.raises(LimitExceeded) as caught:
        content.render({"s": "x" * 600}, {}, SMALL)
    assert str(caught.value) == (
        "message too long: more than 1,000 characters (RenderLimits.max_output) (in html)"
    )


def test_nesting_is_checked_on_brackets_the_tree_and_what_python_can_compile() -> None:
    assert check_template("{{ ((((1)))) }}", SMALL) is None
    assert "more than 8 levels" in (check_template("{{ " + "[" * 9 + "]" * 9 + " }}", SMALL) or "")
    assert "more than 8 levels" in (check_template("{{ 1" + "|abs" * 9 + " }}", SMALL) or "")
    problem = check_template(NESTED_LOOPS) or ""
    assert problem.startswith("template nested too deeply: too many statically nested blocks")
    assert check_template("{{ 1 + (2 ") is not None  # unbalanced: a syntax error, with its line

    deep = compile_template("{{ 1" + "|abs" * 20 + " }}")  # compiles (depth 23), limits decide
    assert deep.render({}, {}) == "1"
    with pytest.raises(LimitExceeded, match="more than 8 levels"):
        deep.render({}, {}, SMALL)
    for source in (DEEP_PARENS, NOTS, NESTED_LOOPS):
        compiled = compile_template(source)  # never raises: every render fails instead
        with pytest.raises(LimitExceeded, match="template nested too deeply"):
            compiled.render({}, {})


def test_the_fast_path_defers_names_jinja_resolves_as_attributes() -> None:
    for source in ("{{ profile.title }}", "{{ profile.a.count }}", "{{ profile.n.real }}"):
        assert compile_template(source).fast is False, source
    assert compile_template("{{ profile.title }}").render({"title": "Dr"}, {}) == "Dr"
    assert "cannot print a function or method" in failure("{{ profile.a.count }}", a=[1])
    fast = compile_template("{{ profile.a }}|{{ profile.b }}|{{ profile.c }}|{{ profile.d }}")
    assert fast.fast
    assert fast.render({"a": None, "b": 2, "c": 1.5, "d": True}, {}) == "None|2|1.5|True"
    with pytest.raises(MissingAttribute):
        fast.render({}, {})


def test_a_budget_counts_steps_and_output() -> None:
    budget = Budget(ck.RenderLimits(max_output=10, max_steps=3))
    budget.charge(3)
    with pytest.raises(LimitExceeded, match="more than 3 steps"):
        budget.charge(1)
    budget = Budget(ck.RenderLimits(max_output=10, max_steps=3))
    assert budget.built(7, "x") == 7
    assert budget.built("abc", "x") == "abc"
    budget.emit(10)
    with pytest.raises(LimitExceeded, match="message too long"):
        budget.emit(1)


def test_printf_length_bounds_what_percent_formatting_builds() -> None:
    assert printf_length("%5s|%.3f|%%|%c", ("ab", 1.5, 65)) >= len("   ab|1.500|%|A")
    assert printf_length(b"%d", (5,)) == len("%d") + len("5") + 2
    with pytest.raises(LimitExceeded, match="cannot print a bytes object"):
        printf_length(b"%s", (b"abc",))
    assert printf_length("%(a)s %(b)d", {"a": "xy", "b": 2}) >= len("xy 2")
    assert printf_length("%s %s", ("only one",)) >= 0  # Python raises on the missing one later


def test_a_plain_sandbox_render_uses_the_default_limits() -> None:
    template = new_environment().from_string("{% for i in range(10001) %}{% endfor %}")
    with pytest.raises(LimitExceeded, match="the limit is 10,000"):
        template.render()
    assert new_environment().from_string("{{ 'ok' }}").render() == "ok"


def test_constant_folding_at_compile_time_builds_nothing_too_big() -> None:
    env = new_environment()
    template = env.from_string("{{ 'a'|center(100000000) }}")  # not folded: refused at render
    with pytest.raises(LimitExceeded):
        template.render()
    assert env.from_string("{{ 'a'|center(3) }}").render() == " a "


def test_a_template_error_keeps_memory_addresses_out_of_the_reason() -> None:
    reason = failure("{{ [1].index(profile.o) }}", o=object())  # ValueError: <object at 0x..>
    assert reason.startswith("ValueError: <object object> is not in list")
    assert " at 0x" not in reason
    with pytest.raises(jinja2.TemplateSyntaxError):
        compile_template("{{ profile.x|nosuchfilter }}")


def test_odd_arguments_fail_like_python_and_are_bounded_anyway() -> None:
    assert printf_length("%d", (10**5000,)) == len("%d") + 4400  # too long for Python to print
    assert failure("{{ lipsum('many') }}").startswith("TypeError")
    assert failure("{{ 'a'.replace(1, 2) }}").startswith("TypeError")
    assert failure("{{ 'a'|replace('a') }}").startswith("TypeError")
    assert failure("{{ '{a}'.format_map() }}").startswith("TypeError")
    assert render("{{ 'a b c'|wordwrap(3) }}") == "a b\nc"
    assert check_template("{{ " + "(" * 40 + "] }}") is not None  # the lexer's own error


def test_only_text_format_methods_are_wrapped() -> None:
    class Report:
        def format(self) -> str:
            return "report"

    env = new_environment()
    assert isinstance(env, BoundedSandbox)
    assert env.wrap_str_format(Report().format) is None
    assert env.wrap_str_format("x".upper) is None


def test_python_recursion_while_compiling_is_a_nesting_problem(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def too_deep(*args: object, **kwargs: object) -> None:
        raise RecursionError

    monkeypatch.setattr(render_module._ENVIRONMENT, "from_string", too_deep)
    assert (check_template("{{ 1 }}") or "").startswith("template nested too deeply")


def test_proofs_and_checks_render_with_the_kits_limits(small_kit: ck.CampaignKit) -> None:
    admin = small_kit.as_user("ada")
    surface = admin.create_surface(
        name="News", channel=C.EMAIL, settings=ck.EmailSettings(sender="n@example.com")
    )
    small_kit.profiles.upsert(
        ck.Profile(
            id="qa",
            identities={"email": "qa@example.com"},
            attributes={"n": 60},
            consents={C.EMAIL: True},
            test=True,
        )
    )
    small_kit.audiences.define("qa-only", ["qa"])
    html = "{% for i in range(profile.n) %}.{% endfor %}"  # 60: fine by default, not here
    campaign = admin.create_campaign(
        name="C",
        audience="qa-only",
        namespace="email",
        actions=[ck.Action(surface.id, ck.EmailContent(subject="Hi", html=html))],
        schedule=ck.Schedule(),
    )
    with pytest.raises(ck.ValidationError) as caught:
        admin.send_proof(campaign.id, ["qa"])
    assert "the limit is 50 (RenderLimits.max_range)" in str(caught.value)
    result = admin.check(campaign.id)
    assert result.ok
    assert any("the limit is 50 (RenderLimits.max_range)" in w for w in result.warnings)


def test_comparisons_and_tests_pay_for_what_they_walk() -> None:
    assert (
        render("{{ 1 < 2 < 3 }}{{ 3 > 2 > 5 }}{{ 'a' in 'abc' }}{{ 'z' not in 'abc' }}")
        == "TrueFalseTrueTrue"
    )
    assert render("{{ 1 == 1 != 2 }}{{ 2 >= 2 <= 3 }}{{ 2 is divisibleby 2 }}") == "TrueTrueTrue"
    assert render("{% for i in range(3) if i != 1 %}{{ i }}{% endfor %}") == "02"
    big = ["x"] * 50_000
    compare = "{% for i in range(20) %}{% if profile.big == profile.big %}{% endif %}{% endfor %}"
    assert "render budget exceeded" in failure(compare, ck.RenderLimits(), big=big)
    search = "{% for i in range(20) %}{% if 'z' is in profile.s %}{% endif %}{% endfor %}"
    assert "render budget exceeded" in failure(search, ck.RenderLimits(), s="x" * 150_000)


def test_slices_and_list_operators_pay_for_what_they_copy() -> None:
    sliced = "{{ 'abcdef'[1:4] }}{{ 'abcdef'[::2] }}{{ ([1, 2, 3][1:] + [4])|join }}"
    assert render(sliced) == "bcdace234"
    assert render("{{ profile.missing[1:2]|default('none') }}") == "none"
    copies = "{% for i in range(20) %}{% set x = profile.big[0:] %}{% endfor %}"
    assert "render budget exceeded" in failure(copies, ck.RenderLimits(), big=["x"] * 50_000)
    joins = "{% for i in range(20) %}{% set x = profile.big + profile.big %}{% endfor %}"
    assert "render budget exceeded" in failure(joins, ck.RenderLimits(), big=["x"] * 30_000)
