"""The contract every model honours; each model's test class subclasses ``ModelContract``."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from pocket_recs.errors import NotFittedError, UnknownIdError
from pocket_recs.models.base import FitContext, Model


def block_matrix(seed: int = 0) -> tuple[sp.csr_array, np.ndarray, np.ndarray]:
    """60 users and 40 items in two taste groups; each user has 6 random items of their group.

    Returns the matrix, the group of each user and the group of each item.
    """
    rng = np.random.default_rng(seed)
    user_group = np.repeat([0, 1], 30)
    item_group = np.repeat([0, 1], 20)
    rows, cols = [], []
    for user, group in enumerate(user_group):
        items = rng.choice(np.flatnonzero(item_group == group), size=6, replace=False)
        rows += [user] * 6
        cols += items.tolist()
    matrix = sp.csr_array((np.ones(len(rows), np.float32), (rows, cols)), shape=(60, 40))
    return matrix, user_group, item_group


class ModelContract:
    """Behaviour every model must show. Subclasses define ``make_model``."""

    def make_model(self) -> Model:
        raise NotImplementedError

    def context(self) -> FitContext:
        _, _, item_group = block_matrix()
        return FitContext(item_groups=item_group)

    @pytest.fixture
    def fitted(self) -> Model:
        matrix, _, _ = block_matrix()
        return self.make_model().fit(matrix, context=self.context())

    def test_fit_returns_self(self) -> None:
        model = self.make_model()
        assert model.fit(block_matrix()[0], context=self.context()) is model

    def test_unfitted_model_refuses(self) -> None:
        with pytest.raises(NotFittedError, match="not fitted"):
            self.make_model().recommend(np.array([0]), 3)

    def test_recommend_shapes_and_order(self, fitted: Model) -> None:
        items, scores = fitted.recommend(np.arange(60), 5)
        assert items.shape == (60, 5) and scores.shape == (60, 5)
        assert items.dtype == np.int64 and scores.dtype == np.float32
        assert np.all(np.diff(scores, axis=1) <= 0)
        assert np.all((items >= 0) & (items < 40))
        single, _ = fitted.recommend(7, 5)
        np.testing.assert_array_equal(single[0], items[7])

    def test_seen_items_are_never_returned(self, fitted: Model) -> None:
        matrix = block_matrix()[0]
        items, _ = fitted.recommend(np.arange(60), 34)  # exactly the unseen items of each user
        for user in range(60):
            assert not set(items[user].tolist()) & set(matrix[[user]].indices.tolist())
        with_seen, _ = fitted.recommend(np.arange(60), 5, exclude_seen=False)
        assert with_seen.shape == (60, 5)

    def test_excluded_items_are_never_returned(self, fitted: Model) -> None:
        banned = sp.csr_array((np.ones(60), (np.arange(60), np.arange(60) % 40)), shape=(60, 40))
        items, _ = fitted.recommend(np.arange(60), 10, exclude=banned)
        assert not np.any(items == (np.arange(60) % 40)[:, None])

    def test_asking_for_more_than_there_is_pads(self, fitted: Model) -> None:
        items, scores = fitted.recommend(np.array([0]), 45)
        assert items.shape == (1, 45)
        assert np.all(items[0, 34:] == -1) and np.all(np.isneginf(scores[0, 34:]))


    def test_similar_items(self, fitted: Model) -> None:
        items, scores = fitted.similar_items(np.array([0, 25]), 5)
        assert items.shape == (2, 5)
        assert 0 not in items[0] and 25 not in items[1]
        assert np.all(np.diff(scores, axis=1) <= 0)

    def test_same_seed_same_result(self) -> None:
        matrix = block_matrix()[0]
        first = self.make_model().fit(matrix, context=self.context()).score(np.arange(60))
        second = self.make_model().fit(matrix, context=self.context()).score(np.arange(60))
        np.testing.assert_array_equal(first, second)

    def test_save_then_load_gives_identical_scores(self, fitted: Model) -> None:
        arrays = fitted.to_arrays()
        assert all(isinstance(value, np.ndarray) and value.dtype != object for value in arrays.values())
        restored = type(fitted).from_arrays(arrays, block_matrix()[0], fitted.config)
        np.testing.assert_array_equal(restored.score(np.arange(60)), fitted.score(np.arange(60)))
        np.testing.assert_array_equal(restored.recommend(np.arange(60), 5)[0], fitted.recommend(np.arange(60), 5)[0])

    def test_unknown_indices(self, fitted: Model) -> None:
        with pytest.raises(UnknownIdError, match="user index 60 is out of range"):
            fitted.recommend(np.array([60]), 3)
        with pytest.raises(UnknownIdError, match="item index -1"):
            fitted.similar_items(np.array([-1]), 3)


class PersonalisedContract(ModelContract):
    """The contract of models whose recommendations depend on the user."""

    scores_new_histories = True

    def test_new_history_is_scored_by_its_taste(self, fitted: Model) -> None:
        matrix, user_group, item_group = block_matrix()
        if not self.scores_new_histories:
            with pytest.raises(NotImplementedError):
                fitted.score_history(matrix[[0]].indices, matrix[[0]].data)
            return
        agreement = []
        for user in range(matrix.shape[0]):
            row = matrix[[user]]
            scores = fitted.score_history(row.indices, row.data)
            assert scores.shape == (matrix.shape[1],) and scores.dtype == np.float32
            scores[row.indices] = -np.inf
            agreement += (item_group[np.argsort(-scores, kind="stable")[:3]] == user_group[user]).tolist()
        assert np.mean(agreement) >= 0.9

    def test_recommendations_follow_taste(self, fitted: Model) -> None:
        _, user_group, item_group = block_matrix()
        items, _ = fitted.recommend(np.arange(60), 3)
        agreement = (item_group[items] == user_group[:, None]).mean()
        assert agreement >= 0.9
