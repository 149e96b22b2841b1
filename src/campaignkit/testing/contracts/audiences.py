"""Contract of the :class:`~campaignkit.ports.AudienceSource` port."""

from __future__ import annotations

from collections.abc import Sequence

from campaignkit.domain.audience import AudienceStatus
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.profile import Profile
from campaignkit.ports import (
    AudienceSource,
)


class AudienceSourceContract:
    """Contract of the :class:`~campaignkit.ports.AudienceSource` port.

    Provide an ``audience_source`` fixture returning a source with no
    audiences, and implement :meth:`define`, which gives the source an
    audience with given members (however your source learns of audiences).
    """

    def define(self, source: AudienceSource, name: str, profiles: Sequence[Profile]) -> None:
        """Make ``source`` know audience ``name`` with exactly these members.

        Subclasses implement it with what their source offers, for example
        store the profiles in its profile store, then define the audience.
        Defining a name again replaces its members.

        Args:
            source: The source under test (the ``audience_source`` fixture).
            name: The audience name.
            profiles: The members, each one distinct.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement define()")

    def _stream(self, source: AudienceSource, name: str, batch_size: int) -> list[list[Profile]]:
        return [
            list(batch) for batch in source.members(name, namespace="email", batch_size=batch_size)
        ]

    def _people(self, count: int, prefix: str = "m") -> list[Profile]:
        return [
            Profile(
                id=f"{prefix}{i:03d}",
                identities={"email": f"{prefix}{i}@example.com"},
                attributes={"rank": i, "nested": {"even": i % 2 == 0}},
                consents={ChannelType.EMAIL: True},
            )
            for i in range(count)
        ]

    def test_an_unknown_audience_has_no_status(self, audience_source: AudienceSource) -> None:
        """An audience that was never defined has no status and no count."""
        assert audience_source.status("missing") is None
        assert audience_source.count("missing") is None

    def test_a_defined_audience_is_ready(self, audience_source: AudienceSource) -> None:
        """A defined audience is READY; its count, if known, is its size."""
        self.define(audience_source, "vip", self._people(5))
        assert audience_source.status("vip") is AudienceStatus.READY
        assert audience_source.count("vip") in (5, None)
        assert audience_source.status("missing") is None

    def test_members_come_in_bounded_batches_each_exactly_once(
        self, audience_source: AudienceSource
    ) -> None:
        """Every member is streamed once, in non-empty batches of at most ``batch_size``."""
        people = self._people(23)
        self.define(audience_source, "vip", people)
        expected = {p.id: p for p in people}
        for batch_size in (1, 4, 23, 100):
            batches = self._stream(audience_source, "vip", batch_size)
            assert all(0 < len(batch) <= batch_size for batch in batches), batch_size
            streamed = [p for batch in batches for p in batch]
            assert len(streamed) == len(expected), batch_size
            assert {p.id: p for p in streamed} == expected, batch_size

    def test_members_stream_in_the_same_order_every_time(
        self, audience_source: AudienceSource
    ) -> None:
        """The order is stable, whatever the batch size (a resumed run skips by position)."""
        self.define(audience_source, "vip", self._people(17))
        orders = [
            [p.id for batch in self._stream(audience_source, "vip", size) for p in batch]
            for size in (3, 3, 7, 17)
        ]
        assert all(order == orders[0] for order in orders)

    def test_members_lacking_the_namespace_are_still_streamed(
        self, audience_source: AudienceSource
    ) -> None:
        """The namespace never filters members: the delivery excludes and counts them."""
        with_email = Profile(id="a", identities={"email": "a@example.com"})
        phone_only = Profile(id="b", identities={"phone": "+33612345678"})
        anonymous = Profile(id="c")
        self.define(audience_source, "mixed", [with_email, phone_only, anonymous])
        streamed = [p for batch in self._stream(audience_source, "mixed", 10) for p in batch]
        assert sorted(p.id for p in streamed) == ["a", "b", "c"]

    def test_a_redefined_audience_streams_its_new_members(
        self, audience_source: AudienceSource
    ) -> None:
        """Defining an audience again replaces its members."""
        self.define(audience_source, "vip", self._people(4, "old"))
        self.define(audience_source, "vip", self._people(2, "new"))
        streamed = [p.id for batch in self._stream(audience_source, "vip", 10) for p in batch]
        assert sorted(streamed) == ["new000", "new001"]
        assert audience_source.count("vip") in (2, None)

    def test_an_empty_audience_streams_nobody(self, audience_source: AudienceSource) -> None:
        """An audience defined with no members is READY and streams no member."""
        self.define(audience_source, "empty", [])
        assert audience_source.status("empty") is AudienceStatus.READY
        assert audience_source.count("empty") in (0, None)
        assert [p for batch in self._stream(audience_source, "empty", 10) for p in batch] == []

    def test_audiences_do_not_mix(self, audience_source: AudienceSource) -> None:
        """Two audiences stream their own members only."""
        self.define(audience_source, "one", self._people(3, "one"))
        self.define(audience_source, "two", self._people(2, "two"))
        one = [p.id for batch in self._stream(audience_source, "one", 10) for p in batch]
        two = [p.id for batch in self._stream(audience_source, "two", 10) for p in batch]
        assert sorted(one) == ["one000", "one001", "one002"]
        assert sorted(two) == ["two000", "two001"]
