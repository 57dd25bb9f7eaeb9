"""Every model through the shared contract, plus known answers for each."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from pocket_recs.config import ALSConfig, BPRConfig, EASEConfig, ItemKNNConfig, SVDConfig, UserKNNConfig
from pocket_recs.errors import ConfigError
from pocket_recs.models.als import ALSModel
from pocket_recs.models.base import FitContext, Model, top_k
from pocket_recs.models.bpr import BPRModel
from pocket_recs.models import ease
from pocket_recs.models.ease import EASEModel
from pocket_recs.models.neighbours import ItemKNNModel, UserKNNModel
from pocket_recs.models.popularity import CategoryPopularityModel, DecayedPopularityModel, PopularityModel
from pocket_recs.models.registry import MODEL_CLASSES, create_model
from pocket_recs.models.svd import PureSVDModel
from tests.models.contract import ModelContract, PersonalisedContract, block_matrix


class TestPopularity(ModelContract):
    def make_model(self) -> Model:
        return PopularityModel()

    def test_most_users_first(self) -> None:
        matrix = sp.csr_array(np.array([[1, 1, 0], [0, 1, 0], [0, 1, 5]], dtype=np.float32))
        items, scores = PopularityModel().fit(matrix).recommend(np.array([1]), 2)
        assert items[0].tolist() == [0, 2] and scores[0].tolist() == [1, 1]  # tie: smaller index
        assert PopularityModel().fit(matrix).recommend(np.array([1]), 3, exclude_seen=False)[0][0, 0] == 1


class TestDecayedPopularity(ModelContract):
    def make_model(self) -> Model:
        return DecayedPopularityModel()

    def test_uses_the_decayed_weights(self) -> None:
        matrix = block_matrix()[0]
        weights = np.zeros(40, np.float32)
        weights[[5, 9]] = [1.0, 2.0]
        items, _ = DecayedPopularityModel().fit(matrix, context=FitContext(item_weights=weights)).recommend(np.array([59]), 2)
        assert items[0].tolist() == [9, 5]


class TestCategoryPopularity(PersonalisedContract):
    def make_model(self) -> Model:
        return CategoryPopularityModel()

    def test_popular_within_the_users_categories(self) -> None:
        matrix = sp.csr_array(np.array([[1, 0, 0, 0], [1, 1, 0, 1], [0, 0, 1, 1], [0, 1, 1, 1]], dtype=np.float32))
        groups = np.array([0, 0, 1, 1])
        model = CategoryPopularityModel().fit(matrix, context=FitContext(item_groups=groups))
        items, _ = model.recommend(np.array([0]), 3)
        assert items[0].tolist() == [1, 3, 2]  # own category first, then by overall popularity


class TestALS(PersonalisedContract):
    def make_model(self) -> Model:
        return ALSModel(ALSConfig(factors=8, iterations=10, seed=3))

    def test_negative_preferences_push_items_down(self) -> None:
        matrix, _, _ = block_matrix()
        disliked = matrix.tolil()
        disliked[0, 30] = -2.0  # user 0 (group 0) dislikes item 30
        base = ALSModel(ALSConfig(factors=8, iterations=10, seed=3)).fit(matrix).score(np.array([0]))[0, 30]
        after = ALSModel(ALSConfig(factors=8, iterations=10, seed=3)).fit(sp.csr_array(disliked)).score(np.array([0]))[0, 30]
        assert after < base


class TestBPR(PersonalisedContract):
    def make_model(self) -> Model:
        return BPRModel(BPRConfig(factors=8, iterations=200, learning_rate=0.05, seed=3))


class TestPureSVD(PersonalisedContract):
    def make_model(self) -> Model:
        return PureSVDModel(SVDConfig(factors=4, seed=1))

    def test_reconstruction_and_explained_variance_match_numpy(self) -> None:
        matrix = block_matrix()[0]
        model = PureSVDModel(SVDConfig(factors=4, seed=1)).fit(matrix)
        u, s, vt = np.linalg.svd(matrix.toarray())
        expected = (u[:, :4] * s[:4]) @ vt[:4]
        np.testing.assert_allclose(model.score(np.arange(60)), expected, atol=1e-4)
        assert model.info_["explained_variance"] == pytest.approx((s[:4] ** 2).sum() / (s**2).sum(), rel=1e-5)


class TestEASE(PersonalisedContract):
    def make_model(self) -> Model:
        return EASEModel(EASEConfig(l2=10.0))

    def test_weights_match_the_closed_form(self) -> None:
        matrix = block_matrix()[0]
        x = matrix.toarray().astype(np.float64)
        p = np.linalg.inv(x.T @ x + 10.0 * np.eye(40))
        expected = np.eye(40) - p / np.diag(p)
        model = EASEModel(EASEConfig(l2=10.0)).fit(matrix)
        np.testing.assert_allclose(model.weights_, expected, atol=1e-5)
        np.testing.assert_allclose(model.score(np.arange(60)), x @ expected, atol=1e-4)

    def test_inactive_items_are_left_out(self) -> None:
        matrix = sp.csr_array(np.array([[1, 0, 1, 0], [1, 0, 0, 0], [0, 0, 1, 1]], dtype=np.float32))
        model = EASEModel().fit(matrix)
        assert model.weights_.shape == (3, 3)
        assert np.isneginf(model.score(np.array([0]))[0, 1])

    @pytest.mark.parametrize("n, limit", [(37, 8), (64, 16), (5, 2), (30, 100)])
    def test_split_inverse_matches_numpy(self, n: int, limit: int, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(ease, "LAPACK_LIMIT", limit)
        monkeypatch.setattr(ease, "GRAM_BLOCK", 3)  # several blocks even on small matrices
        x = np.random.default_rng(n).random((2 * n, n))
        spd = x.T @ x + np.eye(n)
        inverse = ease.invert_spd(spd.astype(np.float32))
        np.testing.assert_allclose(inverse, np.linalg.inv(spd), atol=2e-4 * np.abs(np.linalg.inv(spd)).max())
        np.testing.assert_allclose(inverse, inverse.T, atol=1e-6 * np.abs(inverse).max())

    def test_refuses_when_memory_is_short(self) -> None:
        with pytest.raises(ConfigError, match=r"EASE on 40 items needs .* ease.max_memory_gb"):
            EASEModel(EASEConfig(max_memory_gb=1e-6)).fit(block_matrix()[0])


class TestItemKNN(PersonalisedContract):
    def make_model(self) -> Model:
        return ItemKNNModel(ItemKNNConfig(neighbours=10))

    def test_cosine_similarity_matches_hand_computation(self) -> None:
        matrix = sp.csr_array(np.array([[1, 1, 0], [1, 1, 1], [0, 0, 1]], dtype=np.float32))
        model = ItemKNNModel(ItemKNNConfig(neighbours=5, similarity="cosine")).fit(matrix)
        # items 0 and 1 share both users: cos 1; items 0 and 2 share one of 2 and 2 users: 1/2.
        dense = model.similarity_.toarray()
        np.testing.assert_allclose(dense, [[0, 1, 0.5], [1, 0, 0.5], [0.5, 0.5, 0]], atol=1e-6)


    def test_normalized_similarity_matches_its_formula(self) -> None:
        matrix = sp.csr_array(np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 1, 1], [1, 0, 0, 1]], dtype=np.float32))
        x = matrix.toarray().astype(np.float64)
        weighted = np.diag(x.sum(1) ** -0.5) @ x @ np.diag(x.sum(0) ** -0.35)
        expected = weighted.T @ weighted
        np.fill_diagonal(expected, 0)
        model = ItemKNNModel(ItemKNNConfig(neighbours=5, user_degree_power=0.5, item_degree_power=0.35)).fit(matrix)
        np.testing.assert_allclose(model.similarity_.toarray(), expected, rtol=1e-6)


class TestItemKNNCosine(PersonalisedContract):
    def make_model(self) -> Model:
        return ItemKNNModel(ItemKNNConfig(neighbours=10, similarity="cosine"))


class TestItemKNNBM25(PersonalisedContract):
    def make_model(self) -> Model:
        return ItemKNNModel(ItemKNNConfig(neighbours=10, similarity="bm25"))


class TestUserKNN(PersonalisedContract):
    scores_new_histories = False

    def make_model(self) -> Model:
        return UserKNNModel(UserKNNConfig(neighbours=10))

    def test_scores_come_from_similar_users(self) -> None:
        matrix = sp.csr_array(np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 0, 1]], dtype=np.float32))
        items, _ = UserKNNModel(UserKNNConfig(neighbours=2)).fit(matrix).recommend(np.array([0]), 1)
        assert items[0, 0] == 2  # user 1 is like user 0 and also has item 2


def test_registry_builds_every_model_from_config() -> None:
    for name in MODEL_CLASSES:
        assert create_model(name).name == name
    with pytest.raises(ConfigError, match="unknown model 'foo'"):
        create_model("foo")


def test_top_k_breaks_ties_by_index_and_skips_minus_infinity() -> None:
    scores = np.array([[1, 3, 3, -np.inf, 0]], dtype=np.float32)
    items, values = top_k(scores, 5)
    assert items.tolist() == [[1, 2, 0, 4, -1]]
    assert values[0, :4].tolist() == [3, 3, 1, 0]
