"""Calibration shown, not hidden: the fitted factors, issue 28's check and the held-out band."""

from collections import Counter

from build_engines.capacity import calibration
from build_engines.capacity.roofline import Efficiency


def test_fit_reproduces_the_shipped_factors():
    # FITTED is what fit() returns on the FIT points; if the model or the points change, both must move
    # together (and docs/CAPACITY.md's table with them).
    assert calibration.fit() == calibration.FITTED == Efficiency(memory=0.65, compute=0.55)


def test_issue_28_point_is_held_out_and_within_25_percent():
    [point] = [
        p
        for p in calibration.POINTS
        if p.output_tok_s == 27568.68
        and p.gpu == "H100"
        and p.precision == "fp8"
        and (p.isl, p.osl) == (128, 128)
    ]
    assert point.role == "held-out"  # the acceptance check must not be one the factors were fitted on
    result = calibration.check(point, calibration.FITTED)
    # 29,866 tok/s is the figure docs/CAPACITY.md shows: 1.08× the published 27,568.68.
    assert round(result.predicted_tok_s) == 29866
    assert 0.75 <= result.ratio <= 1.25
    assert round(result.ratio, 2) == 1.08


def test_held_out_band_is_the_documented_one():
    low, high = calibration.held_out_band(calibration.checks())
    # docs/CAPACITY.md and every plan's assumptions quote this band: B200 NVFP4 (1.43) and A100 FP16
    # 8B 128/128 (0.77) are its ends.
    assert (round(low, 2), round(high, 2)) == (0.77, 1.43)


def test_points_are_named_and_varied():
    held = [p for p in calibration.POINTS if p.role == "held-out"]
    fit = [p for p in calibration.POINTS if p.role == "fit"]
    assert len(fit) == 4 and len(held) == 12
    # At least five held-out points besides issue 28's, over several models, GPUs, precisions and lengths.
    assert len({p.model for p in held}) == 3
    assert len({p.gpu for p in held}) == 5
    assert len({p.precision for p in held}) == 3
    assert len({(p.isl, p.osl) for p in held}) == 5
    assert all("perf-overview.md" in p.source for p in calibration.POINTS)
    # No published point appears twice with the same source (a duplicate would weigh twice in the band).
    keys = Counter((p.label(), p.source) for p in calibration.POINTS)
    assert max(keys.values()) == 1


def test_a_bad_factor_is_caught_by_the_published_points():
    # Half the fitted compute efficiency: the GEMM and attention time of the compute-bound 128/128 point
    # doubles while its KV read does not, so the prediction falls to between half and 60 % of it, and the
    # ±25 % check against the published figure fails.
    [point] = [p for p in calibration.POINTS if p.output_tok_s == 27568.68]
    slow = calibration.check(point, Efficiency(memory=0.65, compute=0.275))
    fitted = calibration.check(point, calibration.FITTED)
    assert slow.ratio < 0.75
    assert 0.5 < slow.predicted_tok_s / fitted.predicted_tok_s < 0.6
