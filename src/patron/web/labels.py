"""Names the pages show for the domains' enumerations, as msgids (translated at render).

One map per enumeration, shared by every page that shows it.
"""

from __future__ import annotations

from patron.analytics.schemas import GROUP_LABELS, RfmGroup
from patron.web.templating import N_

RFM_LABELS: dict[RfmGroup, str] = {
    RfmGroup.CHAMPIONS: N_("Champions"),
    RfmGroup.LOYAL: N_("Loyal"),
    RfmGroup.ACTIVE: N_("Active"),
    RfmGroup.PROMISING: N_("Promising"),
    RfmGroup.NEW: N_("New"),
    RfmGroup.NEEDS_ATTENTION: N_("Needs attention"),
    RfmGroup.AT_RISK: N_("At risk"),
    RfmGroup.PREVIOUSLY_LOYAL: N_("Previously loyal"),
    RfmGroup.ALMOST_LOST: N_("Almost lost"),
    RfmGroup.DORMANT: N_("Dormant"),
    RfmGroup.PROSPECTS: N_("Prospects"),
}
assert set(RFM_LABELS) == set(GROUP_LABELS)
