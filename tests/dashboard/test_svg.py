"""The SVG helper: well-formed charts that a screen reader can name, text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from opshealth.dashboard import svg

NS = {"s": "http://www.w3.org/2000/svg"}


def parse(markup: str) -> ET.Element:
    # Inline SVG in HTML carries no namespace; add it to parse as XML.
    return ET.fromstring(markup.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def label_of(root: ET.Element) -> str:
    title = root.find("s:title", NS)
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == title.get("id")
    return title.text


def test_sparkline_names_its_range_and_leaves_gaps():
    root = parse(svg.sparkline([90.0, None, 95.5, 100.0], label="Score", lo=0, hi=100, width=300, height=30))
    assert label_of(root) == "Score: from 90 to 100, lowest 90"
    lines = root.findall("s:polyline", NS)
    assert [len(line.get("points").split()) for line in lines] == [2]  # 95.5 → 100; 90 stands alone
    assert root.find("s:circle[@class='last']", NS).get("cx") == "300"


def test_sparkline_scales_to_the_given_range():
    root = parse(svg.sparkline([0.0, 100.0], label="Score", lo=0, hi=100, width=100, height=24))
    points = root.find("s:polyline", NS).get("points").split()
    assert points == ["0,22", "100,2"]  # 2 px padding top and bottom


def test_sparkline_without_data_says_so():
    assert label_of(parse(svg.sparkline([None, None], label="Score"))) == "Score: no data"


def test_bars_scale_to_the_largest_and_title_each_bar():
    root = parse(
        svg.bars([("mon", 5), ("tue", 10), ("wed", 0)], label="Rows", width=300, height=100, unit=" rows")
    )
    assert label_of(root) == "Rows: 3 bars, highest 10 rows on tue"
    rects = root.findall("s:rect", NS)
    assert [r.get("height") for r in rects] == ["50", "100", "100"]
    assert [r.find("s:title", NS).text for r in rects] == ["mon: 5 rows", "tue: 10 rows", "wed: 0 rows"]
    assert rects[2].get("class") == "s-none"  # an empty day is transparent but still announced


def test_stacked_bars_stack_in_series_order_with_a_class_per_series():
    root = parse(svg.stacked_bars(["d1"], {"failed": [1], "success": [3]}, label="Runs", width=10, height=80))
    failed, success = root.findall("s:rect", NS)
    assert (failed.get("class"), failed.get("y"), failed.get("height")) == ("s-failed", "60", "20")
    assert (success.get("class"), success.get("y"), success.get("height")) == ("s-success", "0", "60")
    assert failed.find("s:title", NS).text == "d1: 1 failed"


def test_lineage_graph_places_columns_by_depth_and_links_each_node():
    nodes = [
        svg.Node(1, "raw.a", -1, "/ops/health/objects/1", css="error", hint="stale"),
        svg.Node(2, "mart.b", 0, "/ops/health/objects/2"),
        svg.Node(3, "mart.c", 1, "/ops/health/objects/3"),
    ]
    root = parse(svg.lineage_graph(nodes, [(1, 2), (2, 3), (9, 3)], label="Lineage of mart.b", more={1: 4}))
    assert label_of(root) == "Lineage of mart.b: 1 upstream and 5 downstream objects"
    links = root.findall("s:a", NS)
    assert [a.get("href") for a in links] == [
        "/ops/health/objects/1",
        "/ops/health/objects/2",
        "/ops/health/objects/3",
    ]
    assert links[0].get("class") == "node error"
    assert links[1].get("class") == "node center"
    assert links[0].find("s:title", NS).text == "raw.a — stale"
    xs = [float(a.find("s:rect", NS).get("x")) for a in links]
    assert xs[0] < xs[1] < xs[2]
    assert len(root.findall("s:path[@class='edge']", NS)) == 2  # the edge to an undrawn node is left out
    assert root.find("s:text[@class='more']", NS).text == "+4 more"


def test_lineage_graph_draws_edges_inside_a_column_and_right_to_left_without_crossing_nodes():
    # 1 reads nothing drawn; 2 and 3 both read 1 (one hop), and 3 also reads 2 (a
    # diamond's short side, inside column 1); 4 is two hops away but feeds 3.
    nodes = [
        svg.Node(1, "raw.a", 0, "/o/1"),
        svg.Node(2, "mart.b", 1, "/o/2"),
        svg.Node(3, "mart.c", 1, "/o/3"),
        svg.Node(4, "mart.d", 2, "/o/4"),
    ]
    root = parse(svg.lineage_graph(nodes, [(1, 2), (1, 3), (2, 3), (2, 4), (4, 3)], label="Lineage"))
    paths = {p.find("s:title", NS).text: p for p in root.findall("s:path", NS)}
    assert set(paths) == {
        "raw.a → mart.b",
        "raw.a → mart.c",
        "mart.b → mart.c",
        "mart.b → mart.d",
        "mart.d → mart.c",
    }
    assert paths["raw.a → mart.b"].get("class") == "edge"
    inner = paths["mart.b → mart.c"]
    assert inner.get("class") == "edge inner"
    right = svg.NODE_W + svg.COL_GAP + svg.NODE_W  # column 1's right side
    start, end = inner.get("d").split(" C")[0], inner.get("d").split()[-2]
    assert start.startswith(f"M{right} ") and end == str(right)
    back = paths["mart.d → mart.c"]
    assert back.get("class") == "edge back"
    assert back.get("d").startswith(f"M{right + svg.COL_GAP} ")  # leaves mart.d on its left
    assert back.get("d").split()[-2] == str(right)  # reaches mart.c on its right


def test_text_is_escaped():
    markup = svg.lineage_graph([svg.Node(1, 'x."<script>"', 0, "/o/1?a=1&b=2")], [], label="L <b>")
    assert "<script>" not in markup and "<b>" not in markup
    root = parse(markup)
    assert root.find("s:a", NS).get("href") == "/o/1?a=1&b=2"
    assert root.find("s:a/s:text", NS).text == 'x."<script>"'


def test_bars_keep_their_slot_width_and_sit_right_when_few():
    root = parse(svg.bars([("a", 1), ("b", 2)], label="Durations", width=100, height=10, slots=10))
    rects = root.findall("s:rect", NS)
    assert [r.get("x") for r in rects] == ["81", "91"]  # slots 8 and 9 of 10, 1 px gap
    assert [r.get("width") for r in rects] == ["8", "8"]
