"""Ground truth recovered on the synthetic scenarios."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_rand_score

from tessera.clustering import ScaddaParams, scadda
from tessera.clustering.synthetic import fire_season_africa, idealized_scenario


def test_rescaling_beats_plain_st_dbscan_on_the_idealized_scenario() -> None:
    data = idealized_scenario(0)
    ours = scadda(data.coords, data.series, ScaddaParams(s_limit=30.0, t_limit=1.5, minimum_neighbors=5))
    plain = [
        adjusted_rand_score(
            data.truth,
            scadda(data.coords, data.series,
                   ScaddaParams(s_limit=s, t_limit=1.5, minimum_neighbors=5, algorithm="stdbscan")).labels,
        )
        for s in (15.0, 30.0, 45.0, 60.0)
    ]
    score = adjusted_rand_score(data.truth, ours.labels)
    assert score > 0.95
    assert score > max(plain) + 0.03
    assert ours.n_clusters == 4


def test_fire_season_subgroup_with_shifted_season_is_split() -> None:
    data = fire_season_africa(0, step_deg=1.0)
    result = scadda(data.coords, data.series, ScaddaParams(s_limit=350.0, t_limit=2.0, minimum_neighbors=5))
    assert adjusted_rand_score(data.truth, result.labels) > 0.95
    subgroup = result.labels[data.truth == 2]
    south = result.labels[data.truth == 1]
    main_subgroup = np.bincount(subgroup[subgroup >= 0]).argmax()
    main_south = np.bincount(south[south >= 0]).argmax()
    assert main_subgroup != main_south


def test_progress_names_every_phase_in_order_with_fractions_rising_to_one() -> None:
    data = idealized_scenario(0)
    seen: list[tuple[str, float]] = []
    scadda(data.coords, data.series, ScaddaParams(s_limit=30.0, t_limit=1.5, minimum_neighbors=5),
           progress=lambda phase, fraction: seen.append((phase, fraction)))
    phases = list(dict.fromkeys(phase for phase, _ in seen))
    assert phases == ["kde", "neighbours", "dtw", "expansion"]
    for phase in phases:
        fractions = [f for p, f in seen if p == phase]
        assert fractions == sorted(fractions) and fractions[-1] == 1.0, phase
