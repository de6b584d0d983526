"""RxScale's plugin: its traits, its ``[sources.rxscale]`` section (merged with the top-level
spellings ``api_url`` / ``api_key`` / ``rate_limit_per_s`` / ``http_timeout_s`` of the days
before several sources) and its factories. Its ids stay bare: the orders of every database
from before sources are its."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from rxfloor.core.sources import SourcePlugin, SourceTraits, loader, opener

if TYPE_CHECKING:
    from rxfloor.core.config import Settings

NAME = "rxscale"


class RxScaleSection(BaseModel):
    """``[sources.rxscale]``: the RxScale API. Unset values fall back to the top-level ones."""

    model_config = ConfigDict(extra="forbid")

    api_url: str | None = None
    rate_limit_per_s: float | None = Field(default=None, gt=0, le=10_000)
    http_timeout_s: float | None = Field(default=None, gt=0, le=300)
    #: the remote's status dialect; unset: learnt from the first statuses it sends
    dialect: Literal["v1", "v2"] | None = None


@dataclass(frozen=True, slots=True)
class RxScaleSettings:
    """The RxScale source's settings once the section and the top-level ones are merged."""

    api_url: str | None
    rate_limit_per_s: float
    http_timeout_s: float
    dialect: Literal["v1", "v2"] | None


def rxscale_settings(settings: Settings) -> RxScaleSettings:
    """``[sources.rxscale]`` merged with the top-level spellings (``api_url`` /
    ``RXFLOOR_API_URL``, ``rate_limit_per_s``, ``http_timeout_s``): a top-level value that
    is given (environment or file) wins, so the environment still beats the file; the
    section wins over a top-level default."""
    section: RxScaleSection = settings.sources.rxscale
    given = settings.model_fields_set

    def pick(name: str, own: float | None) -> float:
        top: float = getattr(settings, name)
        return top if name in given or own is None else own

    return RxScaleSettings(
        api_url=settings.api_url or section.api_url or None,
        rate_limit_per_s=pick("rate_limit_per_s", section.rate_limit_per_s),
        http_timeout_s=pick("http_timeout_s", section.http_timeout_s),
        dialect=section.dialect,
    )


PLUGIN = SourcePlugin(
    name=NAME,
    rank=0,
    traits=SourceTraits("RxScale", "R"),
    section=RxScaleSection,
    configured=lambda s: bool(rxscale_settings(s).api_url),
    open=opener("rxfloor.core.sources.rxscale.source:RxScaleSource"),
    webhooks=loader("rxfloor.core.sources.rxscale.source:WEBHOOKS"),
    webhook_secret_env="RXFLOOR_WEBHOOK_SECRET",
    bare_ids=True,
)
