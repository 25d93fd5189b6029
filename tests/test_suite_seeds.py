"""Seeds and contrasts in a suite file: arms expand into one variant per seed, references follow the seed,
the seed reaches the trainer and the training groups, contrasts are validated before any work, and the
records name their arm and seed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rqbench.errors import RqbenchError
from rqbench.plan import plan_suite
from rqbench.suite import load_suite

HEAD = """
[suite]
name = "seeded"
dataset = "scifact"
split = "test"
measures = ["nDCG@10", "RR@10"]
baseline = "bm25"
seeds = [13, 14]

[[variants]]
name = "bm25"
backend = "bm25"

[[variants]]
name = "md0"
backend = "dense"
params = { max_query_length = 16, max_passage_length = 32 }
train = { negatives = "in-batch", batch_size = 4, max_steps = 1 }

[[variants]]
name = "md1"
backend = "dense"
params = { max_query_length = 16, max_passage_length = 32 }
train = { hard_negatives = 1, mine_from = "md0", mine_depth = 20, batch_size = 4, max_steps = 1 }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.toml"
    path.write_text(textwrap.dedent(text))
    return path


def error(tmp_path: Path, text: str) -> RqbenchError:
    with pytest.raises(RqbenchError) as info:
        load_suite(write(tmp_path, text))
    return info.value


def test_trained_variants_expand_per_seed_and_untrained_do_not(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, HEAD))
    assert suite.variant_names() == ["bm25", "md0[seed=13]", "md0[seed=14]", "md1[seed=13]", "md1[seed=14]"]
    assert [(v.arm_name, v.seed) for v in suite.variants] == [
        ("bm25", None), ("md0", 13), ("md0", 14), ("md1", 13), ("md1", 14)]
    assert list(suite.arms()) == ["bm25", "md0", "md1"]
    assert [v.name for v in suite.select(["md1", "bm25"])] == ["md1[seed=13]", "md1[seed=14]", "bm25"]
    assert suite.reference("md0", suite.variant("md1[seed=14]")).name == "md0[seed=14]"


def test_a_variant_may_override_the_suite_seeds_and_grids_combine(tmp_path: Path) -> None:
    text = HEAD.replace('train = { negatives = "in-batch", batch_size = 4, max_steps = 1 }',
                        'train = { negatives = "in-batch", batch_size = 4, max_steps = 1 }\nseeds = [5]\n'
                        'grid = { max_query_length = [8, 16] }').replace(
        'params = { max_query_length = 16, max_passage_length = 32 }\ntrain = { negatives',
        'params = { max_passage_length = 32 }\ntrain = { negatives')
    text = text.replace('mine_from = "md0", ', 'mine_from = "md0[max_query_length=8]", ')
    with pytest.raises(RqbenchError, match=r"needs its seed 13 among 'md0\[max_query_length=8\]''s seeds \(5\)"):
        load_suite(write(tmp_path, text))
    suite = load_suite(write(tmp_path, text.replace("seeds = [13, 14]", "seeds = [5]")))
    assert [v.name for v in suite.variants if v.arm_name.startswith("md0")] == [
        "md0[max_query_length=8,seed=5]", "md0[max_query_length=16,seed=5]"]


@pytest.mark.parametrize(("change", "message"), [
    (("seeds = [13, 14]", "seeds = [13, 13]"), "seeds lists a seed twice"),
    (("seeds = [13, 14]", "seeds = []"), "seeds must be a non-empty list"),
    (("seeds = [13, 14]", 'seeds = ["a"]'), "seeds must be a non-empty list"),
    (('name = "bm25"\nbackend = "bm25"', 'name = "bm25"\nbackend = "bm25"\nseeds = [1]'),
     "seeds on a variant without"),
    (("max_steps = 1 }", "max_steps = 1, seed = 3 }"), "train.seed with seeds"),
])
def test_bad_seeds_are_one_line_errors_with_the_line(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    exc = error(tmp_path, HEAD.replace(*change, 1))
    assert message in exc.problem
    assert exc.line is not None


CONTRAST = """
[[contrasts]]
name = "denoise"
a = "md1"
b = "md0"
claim = "hard negatives help"
measures = ["MRR@10"]
"""


def test_contrasts_are_parsed_with_canonical_measures(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, HEAD + CONTRAST))
    (c,) = suite.contrasts
    assert (c.name, c.a, c.b, c.expect, c.measures, c.evaluations) == ("denoise", "md1", "md0", "a>b", ("RR@10",), None)
    assert c.to_dict()["claim"] == "hard negatives help"


@pytest.mark.parametrize(("change", "message"), [
    (('a = "md1"', 'a = "md9"'), "a = 'md9' is not a variant or arm (did you mean 'md1'?)"),
    (('b = "md0"', 'b = "md1"'), "compares 'md1' with itself"),
    (('measures = ["MRR@10"]', 'measures = ["P@5"]'), "names P@5, which no evaluation set measures"),
    (('measures = ["MRR@10"]', 'evaluations = ["dl19"]'), "unknown evaluation set 'dl19'"),
    (('claim =', 'expect = "a~b"\nclaim ='), "expect must be 'a>b', 'a<b' or 'a=b'"),
    (('claim =', 'colour = 1\nclaim ='), "unknown contrast key 'colour'"),
])
def test_bad_contrasts_are_one_line_errors(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    exc = error(tmp_path, HEAD + CONTRAST.replace(*change))
    assert message in exc.problem
    assert exc.line is not None


def test_the_plan_gives_each_seed_its_own_training_and_mining_follows_the_seed(tmp_path: Path,
                                                                                data_root: Path) -> None:
    plan = plan_suite(load_suite(write(tmp_path, HEAD)), data_root)
    by_variant = {(p.variant.name): dict(p.steps) for p in plan.evaluations}
    md0 = {s: by_variant[f"md0[seed={s}]"] for s in (13, 14)}
    md1 = {s: by_variant[f"md1[seed={s}]"] for s in (13, 14)}
    assert md0[13]["train"].hash != md0[14]["train"].hash
    assert [md0[s]["train"].params.trainer["seed"] for s in (13, 14)] == [13, 14]
    assert [md0[s]["groups"].params.seed for s in (13, 14)] == [13, 14]
    for s in (13, 14):  # md1 seed s mines with md0 seed s's trained model
        mined_by = md1[s]["mine_from:index"].inputs["model"].node
        assert mined_by is md0[s]["train"]
        assert md1[s]["train"].params.trainer["seed"] == s
    # the arms share what does not depend on the seed: BM25 and the mining depth's data
    assert by_variant["bm25"]["index"] is plan.evaluations[0].steps[0][1]


def test_an_equivalence_contrast_gets_a_default_margin_and_rejects_one_elsewhere(tmp_path: Path) -> None:
    eq = CONTRAST.replace("claim =", 'expect = "a=b"\nclaim =')
    (c,) = load_suite(write(tmp_path, HEAD + eq)).contrasts
    assert (c.expect, c.margin, c.to_dict()["margin"]) == ("a=b", 0.01, 0.01)
    (c,) = load_suite(write(tmp_path, HEAD + eq.replace("claim =", "margin = 0.02\nclaim ="))).contrasts
    assert c.margin == 0.02
    elsewhere = HEAD + CONTRAST.replace("claim =", "margin = 0.02\nclaim =")
    assert "only with expect = 'a=b'" in error(tmp_path, elsewhere).problem
