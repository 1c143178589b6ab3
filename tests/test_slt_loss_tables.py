"""The loss table of SLT's arms (slt_plugins.losses) and the tables of the three trackers."""
from pathlib import Path

import pytest
import torch

from slt_plugins.losses import SO_MODES, SLTLossTable, arm_loss, check_so_mode

TOY = SLTLossTable(tracker="toy", flt_weights={"cls": 2.0, "reg": 3.0, "iou": 0.5}, classification_terms=("cls",),
                   slt_weights={"reg": 1.0}, scst_weight=7.0)


def test_each_arm_names_its_terms_and_weights():
    assert TOY.box_terms == ("reg", "iou")
    assert TOY.weights(0.0) == {"cls": 2.0, "reg": 3.0, "iou": 0.5}                 # +SS: the FLT loss
    assert TOY.weights() == {"scst": 7.0, "reg": 1.0}                              # +SS+SO: official SLT
    assert TOY.weights(5.0, "add") == {"scst": 5.0, "cls": 2.0, "reg": 1.0}        # SCST beside the cls loss
    # box_scale scales box terms only; a box term at weight 0 is not computed at all
    assert TOY.weights(0.0, box_scale=2.0) == {"cls": 2.0, "reg": 6.0, "iou": 1.0}
    assert TOY.weights(1.0, box_scale=0.0) == {"scst": 1.0}
    assert list(TOY.weights(1.0, "add")) == ["scst", "cls", "reg"]


def test_so_mode_and_weights_are_validated():
    assert check_so_mode("add") == "add" and SO_MODES == ("replace", "add")
    with pytest.raises(ValueError, match="so_mode must be one of 'replace', 'add'; got 'keep'"):
        TOY.weights(1.0, "keep")
    with pytest.raises(ValueError, match="so_mode"):
        TOY.weights(0.0, "Replace")   # checked on every arm, also where it has no effect
    with pytest.raises(ValueError, match=">= 0"):
        TOY.weights(-1.0)


@pytest.mark.parametrize("fields, message", [
    (dict(classification_terms=("ce",)), "not frame-level terms"),
    (dict(slt_weights={"cls": 1.0}), "only name box terms"),
    (dict(flt_weights={"cls": 1.0, "total": 1.0}), "reserved"),
    (dict(scst_weight=0.0), "positive"),
])
def test_inconsistent_tables_are_refused(fields, message):
    base = dict(tracker="toy", flt_weights={"cls": 1.0, "reg": 1.0}, classification_terms=("cls",),
                slt_weights={"reg": 1.0}, scst_weight=1.0)
    with pytest.raises(ValueError, match=message):
        SLTLossTable(**{**base, **fields})


def test_tables_are_read_only():
    with pytest.raises(TypeError):
        TOY.flt_weights["cls"] = 0.0
    with pytest.raises(AttributeError):
        TOY.scst_weight = 1.0


def test_arm_loss_sums_the_weighted_terms_and_reports_each():
    scst = torch.tensor(0.3, requires_grad=True)
    reg = torch.tensor(2.0, requires_grad=True)
    out = arm_loss({"scst": 10.0, "reg": 0.5}, scst, {"reg": reg, "unused": torch.tensor(9.0)})
    assert float(out.total.detach()) == pytest.approx(10.0 * 0.3 + 0.5 * 2.0)
    assert float(out.box) == pytest.approx(1.0) and float(out.scst) == pytest.approx(0.3)
    assert out.stats == {"Loss/reg": 2.0}
    out.total.backward()
    assert float(scst.grad) == 10.0 and float(reg.grad) == 0.5

    scst.grad = None
    ss = arm_loss({"reg": 1.0}, scst, {"reg": reg})      # +SS: SCST reported, out of the total
    ss.total.backward()
    assert scst.grad is None and float(ss.scst) == pytest.approx(0.3)
    with pytest.raises(KeyError, match="reg"):
        arm_loss({"scst": 1.0, "reg": 1.0}, scst, {})


def test_tracker_tables_take_their_numbers_from_the_frame_level_code():
    from ltr.actors.trdimp_actor import OFFICIAL_LOSS_WEIGHT
    from ltr.models.loss.transt_loss import TRANST_LOSS_WEIGHTS
    from ltr.actors.siamattn_actor import flt_weights as siamattn_flt_weights
    from ltr.models.tracking.siamattn import SiamAttnConfig
    from ltr.models.tracking.siamrpnpp import SiamRPNConfig
    from pytracking.tracker.siamattn.slt_adapter import LOSS_TABLE as SIAMATTN
    from pytracking.tracker.siamrpnpp.slt_adapter import LOSS_TABLE as SIAMRPN
    from pytracking.tracker.transt.slt_adapter import LOSS_TABLE as TRANST
    from pytracking.tracker.transt.slt_adapter import SLT_TRANST_SCST_WEIGHT
    from pytracking.tracker.trdimp.slt_adapter import LOSS_TABLE as TRDIMP

    cfg = SiamRPNConfig()
    assert dict(SIAMRPN.flt_weights) == {"cls": cfg.cls_weight, "loc": cfg.loc_weight}
    assert SIAMRPN.weights() == {"scst": 1.0, "loc": 1.0}       # slt_siamrpnpp.yaml: no cross-entropy
    assert dict(SIAMATTN.flt_weights) == siamattn_flt_weights(SiamAttnConfig())
    assert SIAMATTN.weights() == {"scst": 1.0, "loc": 0.5, "refine": 0.5, "mask": 0.2}   # slt_siamattn.yaml
    assert sorted(TRANST.flt_weights.values()) == sorted(TRANST_LOSS_WEIGHTS.values())
    assert TRANST.scst_weight == SLT_TRANST_SCST_WEIGHT
    assert dict(TRDIMP.flt_weights) == OFFICIAL_LOSS_WEIGHT
    assert TRDIMP.weights() == {"scst": 4.0, "bb_ce": OFFICIAL_LOSS_WEIGHT["bb_ce"]}
    from ltr.models.loss.ostrack_loss import OSTRACK_LOSS_WEIGHTS
    from pytracking.tracker.ostrack.slt_adapter import LOSS_TABLE as OSTRACK
    assert dict(OSTRACK.flt_weights) == OSTRACK_LOSS_WEIGHTS == {"focal": 1.0, "l1": 5.0, "giou": 2.0}
    assert OSTRACK.weights() == {"scst": 15.0, "l1": 5.0, "giou": 2.0}   # SCST replaces the focal term


def test_frame_level_actors_do_not_import_slt_adapters():
    actors = Path(__file__).resolve().parents[1] / "ltr" / "actors"
    offenders = [p.name for p in actors.glob("*.py") if "slt_adapter" in p.read_text()]
    assert offenders == []
