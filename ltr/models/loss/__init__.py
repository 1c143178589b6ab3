"""Training losses."""
from .siamrpnpp_loss import (SiamRPNLossTerms, log_softmax_cls, select_cross_entropy_loss, siamrpn_loss,
                           weight_l1_loss)

__all__ = ["SiamRPNLossTerms", "log_softmax_cls", "select_cross_entropy_loss", "siamrpn_loss", "weight_l1_loss"]
