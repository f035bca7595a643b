"""Session 10's search on View 1 for a better ranking from the kept triplet network (no training).

    python search.py layers OUT.txt   # which layer of the network, which JB settings
    python search.py views OUT.txt    # test-time views (mirror × shifts) and JB's EM iterations
    python search.py seeds OUT.txt    # seeds 0 and 1 of the same setting, alone and together
    PROTOCOL=view2 FOLD=K RUN_DIR=… SECOND_RUN_DIR=… python search.py seeds OUT.txt   # a View 2 fold

Loads the network trained by ``../plain`` (run_dir ``/tmp/tri-v1-shift/run``, or ``$RUN_DIR``), embeds
View 1's training and test faces, fits PCA whitening + Joint Bayesian on the training people, and writes
one line per variant: accuracy at the threshold chosen on the threshold pairs and AUC on the test pairs.
2–8 minutes here.
"""
import os
import sys

import keras
import numpy as np

from facelab import methods as registry
from facelab.classical.metric_learning import JointBayesian
from facelab.classical.pca import PCA
from facelab.data.lfw import LFW
from facelab.data.pipeline import translate
from facelab.evaluation.protocols import verification_splits
from facelab.metrics import verification as vm

SETTING = dict(backbone_kwargs={"width": 32}, epochs=40, p=32, weight_decay=5e-4, lr_schedule="cosine",
               precision="float32", shift=4, run_dir=os.environ.get("RUN_DIR", "/tmp/tri-v1-shift/run"))
PROTOCOL, FOLD = os.environ.get("PROTOCOL", "view1"), int(os.environ.get("FOLD", "1"))
LAYERS = ["embedding", "features", "gap", "relu4", "relu3"]  # relu3/4 maps: 2×2-grid average pooled


def l2(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


class Search:
    def __init__(self, out):
        lfw = LFW(None, progress=False)
        if PROTOCOL == "view1":
            (self.split,) = verification_splits(lfw, "view1")
        else:  # a View 2 fold, threshold on the held-out training fold (as facelab compare --threshold held-out)
            self.split = verification_splits(lfw, "view2", "held-out")[FOLD - 1]
        self.method = registry.create("triplet-semi-hard", **SETTING)
        images = lfw.load_images(self.method.preprocess)
        train = self.split.train_images
        _, self.y = np.unique(lfw.labels[train], return_inverse=True)
        self.method.fit(images[train], self.y)  # loads the finished run: no training
        tp, xp = self.split.threshold_pairs, self.split.test_pairs
        self.pairs_images = np.unique(np.concatenate([tp.index_a, tp.index_b, xp.index_a, xp.index_b]))
        self.train_x, self.pairs_x = images[train], images[self.pairs_images]
        self.out = out

    def evaluate(self, tag, train_feats, pair_feats, scorer):
        """scorer(train_feats, pair_feats) → f(a, b) scoring rows of pair_feats."""
        score = scorer(train_feats, pair_feats)
        rows = lambda idx: np.searchsorted(self.pairs_images, idx)
        tp, xp = self.split.threshold_pairs, self.split.test_pairs
        s_tp, s_xp = (score(rows(ps.index_a), rows(ps.index_b)) for ps in (tp, xp))
        t, _ = vm.best_threshold(s_tp, tp.same)
        line = f"{tag:42s} {100 * vm.accuracy_at(s_xp, xp.same, t):.2f} {vm.auc(s_xp, xp.same):.4f}"
        print(line, flush=True)
        self.out.write(line + "\n")


def cosine(_, z):
    z = l2(z)
    return lambda a, b: np.sum(z[a] * z[b], 1)


def joint_bayesian(y, dim, n_iter=3, train_l2=False):
    def scorer(x, z):
        x, z = (l2(x), l2(z)) if train_l2 else (x, z)
        sub = x[np.sort(np.random.default_rng(0).choice(len(x), 4000, replace=False))]  # as LearnedMetricMethod
        pca = PCA(min(dim, x.shape[1]), whiten=True, svd_solver="randomized", n_iter=4, random_state=0,
                  dtype=np.float32).fit(sub)
        jb = JointBayesian(n_iter=n_iter).fit(pca.transform(x).astype(np.float64), y)
        w = pca.transform(z).astype(np.float64)
        return lambda a, b: jb.score_paired(w[a], w[b])
    return scorer


def layer_features(backbone, x):
    model = keras.Model(backbone.input, [backbone.get_layer(n).output for n in LAYERS])
    outs = {n: [] for n in LAYERS}
    for i in range(0, len(x), 256):
        for n, o in zip(LAYERS, model.predict_on_batch(x[i:i + 256].astype(np.float32) / 255.0)):
            o = np.asarray(o)
            if o.ndim == 4:
                h, w = o.shape[1] // 2, o.shape[2] // 2
                o = np.concatenate([o[:, a * h:(a + 1) * h, b * w:(b + 1) * w].mean((1, 2))
                                    for a in range(2) for b in range(2)], 1)
            outs[n].append(o.astype(np.float32))
    return {n: np.concatenate(v) for n, v in outs.items()}


def search_layers(s: Search):
    bb, y = s.method.backbone_, s.y
    F = {flip: layer_features(bb, s.train_x[:, :, ::-1] if flip else s.train_x) for flip in (False, True)}
    E = {flip: layer_features(bb, s.pairs_x[:, :, ::-1] if flip else s.pairs_x) for flip in (False, True)}
    mean = lambda d, n: 0.5 * (d[False][n] + d[True][n])
    s.evaluate("cos emb", F[False]["embedding"], E[False]["embedding"], cosine)
    s.evaluate("cos emb flip", mean(F, "embedding"), mean(E, "embedding"), cosine)
    s.evaluate("jb embedding d64 it3", F[False]["embedding"], E[False]["embedding"], joint_bayesian(y, 64))
    s.evaluate("jb embedding d64 flip it3", mean(F, "embedding"), mean(E, "embedding"), joint_bayesian(y, 64))
    s.evaluate("jb embedding d64 it30", F[False]["embedding"], E[False]["embedding"], joint_bayesian(y, 64, 30))
    mirrored = np.concatenate([F[False]["embedding"], F[True]["embedding"]])  # JB fitted on faces + mirrors
    s.evaluate("jb embedding d64 mirrors-as-samples it3", mirrored, E[False]["embedding"],
               joint_bayesian(np.concatenate([y, y]), 64))
    for layer, dims in (("features", (64, 128)), ("gap", (64, 128)), ("relu4", (64, 128, 200)),
                        ("relu3", (64, 128, 200))):
        for d in dims:
            s.evaluate(f"jb {layer} d{d}", F[False][layer], E[False][layer], joint_bayesian(y, d))
            s.evaluate(f"jb {layer} d{d} flip", mean(F, layer), mean(E, layer), joint_bayesian(y, d))
            if layer.startswith("relu"):
                s.evaluate(f"jb {layer} d{d} flip l2", mean(F, layer), mean(E, layer),
                           joint_bayesian(y, d, train_l2=True))


def search_views(s: Search):
    grid5 = [(0, 0), (2, 0), (-2, 0), (0, 2), (0, -2)]
    grid9 = grid5 + [(2, 2), (2, -2), (-2, 2), (-2, -2)]  # the 3×3 grid of ±2 px = shift_average=2
    views = {}
    for flip in (False, True):
        for dy, dx in grid9:
            f = lambda x: translate(x[:, :, ::-1] if flip else x, dy, dx)
            views[flip, dy, dx] = (s.method.embed(f(s.train_x)), s.method.embed(f(s.pairs_x)))
    sets = {"none": [(False, 0, 0)], "flip": [(False, 0, 0), (True, 0, 0)],
            "flip+sh2": [(f, *o) for f in (False, True) for o in grid5],
            "flip+sh2x2": [(f, *o) for f in (False, True) for o in grid9]}
    for name, keys in sets.items():
        x, z = (np.mean([views[q][i] for q in keys], 0) for i in (0, 1))
        s.evaluate(f"cos {name}", x, z, cosine)
        for n_iter in (1, 2, 3, 5):
            s.evaluate(f"jb64 it{n_iter} {name}", x, z, joint_bayesian(s.y, 64, n_iter))


def search_seeds(s: Search):
    """Two networks of the same setting, seeds 0 and 1 (``$SECOND_RUN_DIR``, default
    /tmp/tri-v1-shift-s1/run): is an ensemble the way to a better ranking?"""
    second = registry.create("triplet-semi-hard", seed=1, **{**SETTING, "run_dir": os.environ.get(
        "SECOND_RUN_DIR", "/tmp/tri-v1-shift-s1/run")})
    second.fit(s.train_x, s.y)  # loads the finished run
    for views in ("one view", "18 views"):
        feats = []
        for m in (s.method, second):
            m.flip_average, m.shift_average = (False, 0) if views == "one view" else (True, 2)
            feats.append((m.embed(s.train_x), m.embed(s.pairs_x)))
        both = tuple(np.concatenate([l2(f[i]) for f in feats], 1) for i in (0, 1))
        for name, (x, z) in (("seed 0", feats[0]), ("seed 1", feats[1]), ("seeds 0+1 concatenated", both)):
            s.evaluate(f"cos {name}, {views}", x, z, cosine)
            for d in (64, 128) if name.startswith("seeds") else (64,):
                s.evaluate(f"jb{d} {name}, {views}", x, z, joint_bayesian(s.y, d))


if __name__ == "__main__":
    which, path = sys.argv[1], sys.argv[2]
    with open(path, "w") as out:
        where = "View 1" if PROTOCOL == "view1" else f"View 2 fold {FOLD}, held-out threshold"
        out.write(f"variant | accuracy % (threshold chosen on the threshold pairs) | AUC ({where} test pairs)\n")
        {"layers": search_layers, "views": search_views, "seeds": search_seeds}[which](Search(out))
