import numpy as np

from cell_assets.imaging.propagation import propagate


def _two_seeds() -> tuple[np.ndarray, np.ndarray]:
    seeds = np.zeros((9, 40), np.uint16)
    seeds[4, 3], seeds[4, 36] = 1, 2
    image = np.zeros((9, 40))
    image[:, 28:] = 1.0  # an intensity edge far from the midpoint (column 19.5)
    return image, seeds


def test_fronts_meet_on_the_stains_edge_when_lambda_is_small():
    image, seeds = _two_seeds()
    cells = propagate(image, seeds, np.ones(seeds.shape, bool), regularization=0.0001)
    assert (cells[:, :27] == 1).all() and (cells[:, 29:] == 2).all()


def test_fronts_meet_half_way_when_lambda_is_large():
    image, seeds = _two_seeds()
    cells = propagate(image, seeds, np.ones(seeds.shape, bool), regularization=1e6)
    assert (cells[:, :19] == 1).all() and (cells[:, 21:] == 2).all()


def test_background_is_impassable_and_seeds_keep_their_labels():
    image, seeds = _two_seeds()
    mask = np.ones(seeds.shape, bool)
    mask[:, 10] = False  # a gap of background cuts the left seed's side in two
    cells = propagate(image, seeds, mask, regularization=0.05)
    assert (cells[:, 10] == 0).all()
    assert (cells[:, 11:] == 2).all()  # only seed 2 reaches past the gap
    assert (cells[:, :10] == 1).all()
    assert propagate(image, np.zeros_like(seeds), mask).max() == 0


def test_the_search_finds_scikit_images_minimum_cost_paths():
    """Every pixel takes the seed whose cheapest path (MCP_Geometric's costs) reaches it."""
    from skimage.graph import MCP_Geometric

    from cell_assets.imaging.propagation import step_costs

    rng = np.random.default_rng(8)
    image = ndimage_smooth(rng.random((60, 70)))
    seeds = np.zeros(image.shape, np.int32)
    for label, (r, c) in enumerate(rng.integers(0, 60, (12, 2)), 1):
        seeds[r, c] = label
    mask = image > 0.45
    cells = propagate(image, seeds, mask, 0.05)
    costs = step_costs(image, 0.05)
    inside = mask | (seeds > 0)
    costs[~inside] = np.inf
    per_seed = []
    for label in range(1, 13):
        found, _ = MCP_Geometric(costs).find_costs(np.argwhere(seeds == label))
        per_seed.append(found)
    cheapest = np.argmin(np.stack(per_seed), axis=0) + 1
    reached = np.isfinite(np.min(np.stack(per_seed), axis=0)) & inside
    assert np.array_equal(cells[reached], cheapest[reached])
    assert not cells[~reached].any()


def ndimage_smooth(image: np.ndarray) -> np.ndarray:
    from scipy import ndimage as ndi

    return ndi.gaussian_filter(image, 2.0) * 2 - 0.5
