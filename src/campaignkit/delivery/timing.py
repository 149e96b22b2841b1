"""When each recipient of a run is due: their wave, their own time zone.

Without waves or profile time zones every recipient is due at the run's
nominal instant. With ``use_profile_timezone`` a recipient is due when their
own clock shows the wall time the run stands for; with waves, at their
wave's start (plus the same local-time shift).
"""

from __future__ import annotations

import attrs
import pendulum

from campaignkit.domain.profile import Profile
from campaignkit.domain.recurrence import same_wall_time
from campaignkit.domain.rules import Zone, recipient_zone
from campaignkit.domain.schedule import Schedule
from campaignkit.domain.waves import assign_wave, preferred_wave


@attrs.frozen
class Due:
    """A recipient's due time.

    Attributes:
        at: When they are due; None when no wave has room (excluded).
        zone: Their time zone (theirs, else the campaign's).
        fell_back: True when their profile had no usable zone.
    """

    at: pendulum.DateTime | None
    zone: Zone
    fell_back: bool


@attrs.define
class Timing:
    """Works out due times for one run. ``wave_filled`` is updated as waves fill.

    Attributes:
        campaign_id: Seeds the wave hash.
        schedule: The version's schedule.
        nominal: The instant the run stands for.
        audience_size: Known size of the audience (sizes percentage waves).
        wave_filled: Recipients placed in each wave so far.
    """

    campaign_id: str
    schedule: Schedule
    nominal: pendulum.DateTime
    audience_size: int | None
    wave_filled: list[int]
    _capacities: list[int | None] | None = attrs.field(default=None, init=False, repr=False)
    _starts: dict[pendulum.DateTime, list[pendulum.DateTime]] = attrs.field(
        factory=dict, init=False, repr=False
    )
    """Each wave's start for a recipient due at a given instant (few distinct instants)."""

    @property
    def simple(self) -> bool:
        """True when every recipient is due at ``nominal`` (no waves, no profile time zones)."""
        return self.schedule.waves is None and not self.schedule.use_profile_timezone

    def due(self, profile: Profile) -> Due:
        """The due time of ``profile`` (placing them in a wave if there are waves)."""
        schedule = self.schedule
        zone, fell_back = recipient_zone(profile.timezone, schedule.timezone)
        at = self.nominal
        if schedule.use_profile_timezone:
            at = same_wall_time(self.nominal, schedule.timezone, zone)
        waves = schedule.waves
        if waves is None:
            return Due(at, zone, fell_back)
        if len(self.wave_filled) != len(waves.sizes):
            self.wave_filled = [0] * len(waves.sizes)
        capacities = self._capacities
        if capacities is None:  # they depend on the audience's size only: once per run
            capacities = self._capacities = waves.capacities(self.audience_size)
        index = assign_wave(
            preferred_wave(waves, self.campaign_id, profile.id), self.wave_filled, capacities
        )
        if index is None:
            return Due(None, zone, fell_back)
        self.wave_filled[index] += 1
        starts = self._starts.get(at)
        if starts is None:
            starts = self._starts[at] = [at + waves.every * i for i in range(len(waves.sizes))]
        return Due(starts[index], zone, fell_back)
