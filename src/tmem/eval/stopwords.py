"""English stop-words for the evaluation baselines and the development-set overlap check.

A hand-picked list of function words, pronouns, auxiliaries and contraction remnants (the
tokenizers split "don't" into "don" and "t"). Content words never appear here.
"""

from __future__ import annotations

STOP_WORDS: frozenset[str] = frozenset(
    # One string split once keeps the list readable.
    """
    a about above after again against all am an and any are aren as at be because been before
    being below between both but by can cannot could couldn d did didn do does doesn doing don
    down during each few for from further had hadn has hasn have haven having he her here hers
    herself him himself his how i if in into is isn it its itself just ll m me more most mustn my
    myself no nor not now of off on once only or other ought our ours ourselves out over own re
    s same shan she should shouldn so some such t than that the their theirs them themselves then
    there these they this those through to too under until up ve very was wasn we were weren what
    when where which while who whom why will with won would wouldn y you your yours yourself
    yourselves also yes yeah oh ok okay hey hi hello um uh just really quite maybe anyway
    well still even ever much many lot lots thing things something anything nothing everything
    get got getting go going gone went make made let lets like one ones way
    """.split()  # noqa: SIM905
)
