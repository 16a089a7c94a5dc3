"""Pandapower grids for the import, prediction and replay tests."""

from __future__ import annotations

import pandapower as pp


def one_transformer_grid() -> pp.pandapowerNet:
    """110 kV grid -> 20 kV busbar -> two MV buses -> one 0.4 kV transformer -> LV feeder."""
    net = pp.create_empty_network()
    hv = pp.create_bus(net, 110.0)
    mvbar = pp.create_bus(net, 20.0)
    m1, m2 = pp.create_bus(net, 20.0), pp.create_bus(net, 20.0)
    lv0, lv1, lv2 = (pp.create_bus(net, 0.4) for _ in range(3))
    pp.create_ext_grid(net, hv)
    pp.create_transformer(net, hv, mvbar, std_type="25 MVA 110/20 kV")
    pp.create_line(net, mvbar, m1, 1.0, std_type="NA2XS2Y 1x95 RM/25 12/20 kV")
    pp.create_line(net, m1, m2, 2.0, std_type="NA2XS2Y 1x95 RM/25 12/20 kV")
    pp.create_transformer(net, m2, lv0, std_type="0.4 MVA 20/0.4 kV")
    pp.create_line(net, lv0, lv1, 0.1, std_type="NAYY 4x50 SE")
    pp.create_line(net, lv1, lv2, 0.1, std_type="NAYY 4x50 SE")
    pp.create_load(net, lv1, 0.003)
    pp.create_load(net, lv2, 0.003)
    pp.create_load(net, lv2, 0.004)
    pp.create_switch(net, m1, 1, et="l", closed=True, type="CB")
    return net


def two_feeders_with_a_tie() -> pp.pandapowerNet:
    """Feeder a: busbar - a1 - a2 (a load-break switch on a1-a2); feeder b: busbar - b1; a line
    a2 - b1 open at a load-break switch (the normally-open point); two loads on a1 and a2, four on
    b1."""
    net = pp.create_empty_network()
    hv, bar = pp.create_bus(net, 110.0), pp.create_bus(net, 20.0)
    a1, a2, b1 = (pp.create_bus(net, 20.0) for _ in range(3))
    pp.create_ext_grid(net, hv)
    pp.create_transformer(net, hv, bar, std_type="25 MVA 110/20 kV")
    cable = "NA2XS2Y 1x95 RM/25 12/20 kV"
    pp.create_line(net, bar, a1, 1.0, std_type=cable)
    a12 = pp.create_line(net, a1, a2, 1.0, std_type=cable)
    pp.create_line(net, bar, b1, 1.0, std_type=cable)
    tie = pp.create_line(net, a2, b1, 1.0, std_type=cable)
    for bus in (a1, a1, a2, a2, b1, b1, b1, b1):
        pp.create_load(net, bus, 0.1)
    pp.create_switch(net, a1, a12, et="l", closed=True, type="LBS")
    pp.create_switch(net, a2, tie, et="l", closed=False, type="LBS")
    return net
