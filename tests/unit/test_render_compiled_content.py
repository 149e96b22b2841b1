"""One generated renderer per content, and the compile cache (issue 12).

The generated renderer must give exactly what the Jinja path gives for pure
substitutions, and exactly the field-by-field reference's errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import jinja2
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import campaignkit as ck
from campaignkit.delivery import render as render_module
from campaignkit.delivery import substitution
from campaignkit.delivery.lru import WeightedLRU
from campaignkit.delivery.render import (
    CompiledContent,
    LimitExceeded,
    MissingAttribute,
    TemplateFailed,
    check_template,
    compile_template,
)

Outcome = tuple[str, object]
LINK = "https://example.com/u?t=abc"


def outcome(render: Callable[[], Mapping[str, str]]) -> Outcome:
    """("ok", fields), ("missing", "") or ("failed", type and reason) of a render call."""
    try:
        return ("ok", dict(render()))
    except (MissingAttribute, jinja2.UndefinedError):
        return ("missing", "")
    except TemplateFailed as exc:
        return ("failed", (type(exc).__name__, str(exc)))


def jinja_content(templates: Mapping[str, str]) -> CompiledContent:
    """The same content compiled by Jinja only (no fast path): the reference."""
    return CompiledContent({name: render_module._compile_jinja(s) for name, s in templates.items()})


def reference(
    content: CompiledContent,
    profile: Mapping[str, Any],
    context: Mapping[str, Any],
    limits: ck.RenderLimits,
    variables: Mapping[str, str],
) -> Mapping[str, str]:
    """The field-by-field fast path the generated code falls back on."""
    return content._render_fast(profile, context, limits, variables)


# ---------------------------------------------------------------- equivalence with Jinja

NAMES = st.sampled_from(["a", "b", "city", "first_name", "x1", "Zed"])
LEAVES = st.one_of(
    st.text(max_size=8),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
)
DATA = st.recursive(
    LEAVES,
    lambda inner: st.one_of(st.dictionaries(NAMES, inner, max_size=4), st.lists(inner, max_size=2)),
    max_leaves=8,
)
LITERAL = (  # quotes, backslashes and braces must come out as text, never as code
    st.lists(
        st.one_of(
            st.sampled_from(["'", '"', "\\", "'''", "{", "}", "f'{v0}'", "\n", "\x00", "é"]),
            st.characters(exclude_characters="{}%#\r", exclude_categories=["Cs"]),
        ),
        max_size=8,
    )
    .map("".join)
    .filter(lambda text: substitution.parse(text) is not None)
)
SPACE = st.sampled_from(["", " ", "\t", "\n"])


@st.composite
def lookup(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 6)) == 0:
        return f"{{{{{draw(SPACE)}unsubscribe_url{draw(SPACE)}}}}}"
    root = draw(st.sampled_from(["profile", "context"]))
    path = ".".join(draw(st.lists(NAMES, min_size=1, max_size=3)))
    return f"{{{{{draw(SPACE)}{root}.{path}{draw(SPACE)}}}}}"


PURE = st.lists(st.one_of(LITERAL, lookup()), max_size=5).map("".join)
FIELD_NAMES = st.sampled_from(["subject", "html", "text", "title", "it's", 'a"b\\c'])
CONTENT = st.dictionaries(FIELD_NAMES, PURE, min_size=1, max_size=3)
LIMITS = st.sampled_from(
    [ck.RenderLimits(), ck.RenderLimits(max_output=1), ck.RenderLimits(max_output=12)]
)
VARIABLES = st.sampled_from([{}, {"unsubscribe_url": LINK}])


def mapping(value: object) -> Mapping[str, Any]:
    return MappingProxyType(value if isinstance(value, dict) else {})


@settings(max_examples=300, deadline=None)
@given(templates=CONTENT, profile=DATA, context=DATA, limits=LIMITS, variables=VARIABLES)
def test_the_generated_renderer_renders_exactly_like_jinja(
    templates: dict[str, str],
    profile: object,
    context: object,
    limits: ck.RenderLimits,
    variables: dict[str, str],
) -> None:
    assume(all(check_template(source) is None for source in templates.values()))
    content = CompiledContent.of(templates)  # what activation accepts: the runner compiles it
    assume(all(t.fast for t in content.fields.values()))  # stray braces can make Jinja syntax
    assert content._factory is not None
    attributes, api = mapping(profile), mapping(context)
    generated = content.renderer(limits)
    expected = outcome(lambda: jinja_content(templates).render(attributes, api, limits, variables))
    assert outcome(lambda: generated(attributes, api, variables)) == expected
    assert outcome(lambda: content.render(attributes, api, limits, variables)) == expected


@settings(max_examples=200, deadline=None)
@given(templates=CONTENT, profile=DATA, context=DATA, limits=LIMITS, variables=VARIABLES)
def test_the_generated_renderer_fails_exactly_like_the_reference(
    templates: dict[str, str],
    profile: object,
    context: object,
    limits: ck.RenderLimits,
    variables: dict[str, str],
) -> None:
    # only what activation accepts reaches a run (stray braces can make a syntax error)
    assume(all(check_template(source) is None for source in templates.values()))
    content = CompiledContent.of(templates)
    attributes, api = mapping(profile), mapping(context)

    def caught(render: Callable[[], Mapping[str, str]]) -> object:
        try:
            return dict(render())
        except Exception as exc:
            return (type(exc), str(exc), getattr(exc, "path", None))

    assert caught(lambda: content.renderer(limits)(attributes, api, variables)) == caught(
        lambda: reference(content, attributes, api, limits, variables)
    )


# ---------------------------------------------------------------- the same results and errors


SIMPLE = {"subject": "Hi {{ profile.firstName }}", "html": "x"}


def test_one_substitution_renders_to_the_same_dict() -> None:
    content = CompiledContent.of(SIMPLE)
    render = content.renderer(ck.RenderLimits())
    assert render({"firstName": "Ann"}, {}, {}) == {"subject": "Hi Ann", "html": "x"}
    assert content.render({"firstName": "Ann"}, {}) == {"subject": "Hi Ann", "html": "x"}


def test_numbers_booleans_and_none_print_as_jinja_prints_them() -> None:
    content = CompiledContent.of(
        {"subject": "{{ profile.a }}|{{ profile.b }}|{{ profile.c }}|{{ profile.d }}", "html": ""}
    )
    values = {"a": None, "b": 2, "c": 1.5, "d": True}
    assert content.renderer()(values, {}, {}) == {"subject": "None|2|1.5|True", "html": ""}


def test_a_missing_or_none_path_is_a_missing_attribute_with_its_path() -> None:
    content = CompiledContent.of({"subject": "x", "html": "{{ profile.address.city }}"})
    render = content.renderer()
    profiles: list[dict[str, Any]] = [{}, {"address": None}, {"address": {}}, {"address": "s"}]
    for profile in profiles:
        with pytest.raises(MissingAttribute) as caught:
            render(profile, {}, {})
        assert caught.value.path == "profile.address.city"
    with pytest.raises(MissingAttribute) as caught:
        CompiledContent.of({"t": "{{ context.order.id }}"}).renderer()({}, {}, {})
    assert caught.value.path == "context.order.id"


def test_a_value_that_cannot_be_printed_names_the_field() -> None:
    content = CompiledContent.of({"subject": "{{ profile.a }}", "html": "{{ profile.b }}"})
    with pytest.raises(LimitExceeded) as caught:
        content.renderer()({"a": "ok", "b": {"nested": 1}}, {}, {})
    assert str(caught.value).startswith("cannot print a dict")
    assert str(caught.value).endswith("(in html)")


def test_the_output_cap_counts_every_field_and_names_where_it_broke() -> None:
    content = CompiledContent.of({"subject": "{{ profile.s }}", "html": "<p>{{ profile.s }}</p>"})
    small = ck.RenderLimits(max_output=1000)
    assert content.renderer(small)({"s": "x" * 400}, {}, {})["html"] == f"<p>{'x' * 400}</p>"
    with pytest.raises(LimitExceeded) as caught:
        content.renderer(small)({"s": "x" * 600}, {}, {})
    assert str(caught.value) == (
        "message too long: more than 1,000 characters (RenderLimits.max_output) (in html)"
    )
    with pytest.raises(LimitExceeded, match=r"\(in subject\)$"):
        content.renderer(small)({"s": "x" * 1001}, {}, {})
    literal = CompiledContent.of({"subject": "y" * 11})  # no lookups: the cap still applies
    with pytest.raises(LimitExceeded, match=r"more than 10 characters .*\(in subject\)$"):
        literal.renderer(ck.RenderLimits(max_output=10))({}, {}, {})


def test_the_unsubscribe_url_is_a_message_variable() -> None:
    content = CompiledContent.of(
        {"html": "<a href='{{ unsubscribe_url }}'>stop</a>", "subject": "S"}
    )
    render = content.renderer()
    assert render({}, {}, {"unsubscribe_url": LINK})["html"] == f"<a href='{LINK}'>stop</a>"
    with pytest.raises(MissingAttribute) as caught:
        render({}, {}, {})
    assert caught.value.path == "unsubscribe_url"


def test_odd_field_names_and_literals_come_out_as_text() -> None:
    templates = {'it\'s "odd"\n': "'''\\x{ }f'{v0}' é\x00 {{ profile.a }}", "": ""}
    content = CompiledContent.of(templates)
    assert content._factory is not None
    assert content.renderer()({"a": "A"}, {}, {}) == {
        'it\'s "odd"\n': "'''\\x{ }f'{v0}' é\x00 A",
        "": "",
    }


def test_a_content_with_very_many_lookups_renders_without_generated_code() -> None:
    count = substitution.MAX_GENERATED_LOOKUPS + 1
    source = " ".join(f"{{{{ profile.a{i} }}}}" for i in range(count))
    content = CompiledContent.of({"html": source})
    assert content._factory is None
    profile = {f"a{i}": i for i in range(count)}
    assert content.renderer()(profile, {}, {})["html"] == " ".join(map(str, range(count)))


def test_a_jinja_content_renders_through_its_budget_the_same_way() -> None:
    content = CompiledContent.of({"subject": "Hi {{ profile.n }}", "html": "{{ profile.n|upper }}"})
    assert content._factory is None
    render = content.renderer(ck.RenderLimits())
    assert render({"n": "ann"}, {}, {}) == {"subject": "Hi ann", "html": "ANN"}
    with pytest.raises(LimitExceeded, match=r"\(in html\)$"):
        content.renderer(ck.RenderLimits(max_output=8))({"n": "ann"}, {}, {})


def test_renderer_is_made_once_per_limits_and_refuses_other_arguments() -> None:
    content = CompiledContent.of(SIMPLE)
    limits = ck.RenderLimits()
    assert content.renderer(limits) is content.renderer(limits)
    with pytest.raises(TypeError, match="limits must be a RenderLimits, not int"):
        content.renderer(5)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the compile cache


def test_the_same_text_compiles_to_the_same_immutable_object() -> None:
    source = "Cached {{ profile.firstName }} for the cache test"
    assert compile_template(source) is compile_template(source)
    first = CompiledContent.of({"subject": source, "html": "{% if 1 %}x{% endif %}"})
    assert CompiledContent.of({"subject": source, "html": "{% if 1 %}x{% endif %}"}) is first
    assert CompiledContent.of({"html": "{% if 1 %}x{% endif %}", "subject": source}) is not first
    with pytest.raises(TypeError):
        first.fields["subject"] = compile_template("x")  # type: ignore[index]
    with pytest.raises(AttributeError):
        first.fields = {}  # type: ignore[misc]


def test_fields_given_by_the_caller_are_copied() -> None:
    fields = {"subject": compile_template("a")}
    content = CompiledContent(fields)
    fields["html"] = compile_template("b")
    assert list(content.fields) == ["subject"]


def test_a_failing_template_stays_failing() -> None:
    for _ in range(2):
        with pytest.raises(jinja2.TemplateSyntaxError):
            compile_template("{{ profile.firstName")
        with pytest.raises(jinja2.TemplateSyntaxError):
            CompiledContent.of({"subject": "ok", "html": "{{ profile.firstName"})
    deep = "{{ " + "(" * 200 + "1" + ")" * 200 + " }}"
    for _ in range(2):  # compiles to a template whose every render fails
        with pytest.raises(LimitExceeded, match="nested too deeply"):
            compile_template(deep).render({}, {})


def test_the_cache_is_bounded_by_entries_and_by_weight() -> None:
    calls: list[str] = []

    def make(key: str) -> Callable[[], str]:
        def compute() -> str:
            calls.append(key)
            return key.upper()

        return compute

    cache = WeightedLRU[str, str](max_entries=2, max_weight=10)
    assert cache.get("a", 1, make("a")) == "A"
    assert cache.get("b", 1, make("b")) == "B"
    assert cache.get("a", 1, make("a")) == "A"  # kept, now the most recent
    cache.get("c", 1, make("c"))  # drops b, the least recently used
    assert len(cache) == 2
    cache.get("b", 1, make("b"))
    assert calls == ["a", "b", "c", "b"]
    cache.get("heavy", 11, make("heavy"))  # heavier than the whole cache: never kept
    cache.get("heavy", 11, make("heavy"))
    assert calls.count("heavy") == 2
    cache.get("ten", 10, make("ten"))  # fits only alone
    assert len(cache) == 1
    cache.clear()
    assert len(cache) == 0
    with pytest.raises(ValueError, match="max_entries and max_weight must be at least 1"):
        WeightedLRU[str, str](0, 10)


def test_the_cache_keeps_no_exception() -> None:
    cache = WeightedLRU[str, str](max_entries=2, max_weight=10)

    def fail() -> str:
        raise RuntimeError("no")

    for _ in range(2):
        with pytest.raises(RuntimeError):
            cache.get("k", 1, fail)
    assert len(cache) == 0


def test_a_value_computed_twice_at_once_keeps_the_first() -> None:
    cache = WeightedLRU[str, str](max_entries=2, max_weight=10)

    def outer() -> str:  # another caller computes and keeps "k" meanwhile
        cache.get("k", 1, lambda: "first")
        return "second"

    assert cache.get("k", 1, outer) == "first"
    assert cache.get("k", 1, lambda: "third") == "first"


def test_no_code_is_generated_for_names_or_paths_that_are_not_plain() -> None:
    odd = CompiledContent.of({1: "Hi {{ profile.n }}"})  # type: ignore[dict-item]
    assert odd._factory is None
    assert list(odd.renderer()({"n": "Ann"}, {}, {}).values()) == ["Hi Ann"]
    assert CompiledContent.of({1: "x"}) is not odd  # type: ignore[dict-item]  # never cached
    bad_segment: substitution.Parts = (("profile", ("a']; import os; x = ['",)),)
    assert substitution.content_factory([("html", bad_segment)]) is None
    assert substitution.content_factory([("html", (("os", ()),))]) is None
    with pytest.raises(TypeError):
        compile_template(5)  # type: ignore[arg-type]
