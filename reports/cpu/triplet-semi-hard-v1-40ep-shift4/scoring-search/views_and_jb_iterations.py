"""Session 10 search on View 1 (run: python views_and_jb_iterations.py view1 /tmp/tri-v1-shift/run 1 OUT.json): test-time flips × reflect-padded shifts, and JB EM iterations."""
import json, sys, time
import numpy as np
from facelab import methods as registry
from facelab.classical.pca import PCA
from facelab.classical.metric_learning import JointBayesian
from facelab.data.lfw import LFW
from facelab.evaluation.protocols import verification_splits
from facelab.metrics import verification as vm

protocol, run_dir, folds, json_out = sys.argv[1], sys.argv[2], [int(k) for k in sys.argv[3].split(",")], sys.argv[4]
params = dict(backbone_kwargs={"width": 32}, epochs=40, p=32, weight_decay=5e-4, lr_schedule="cosine",
              precision="float32", shift=4, run_dir=run_dir, progress=False)
lfw = LFW(None, progress=False)
splits = verification_splits(lfw, protocol, "held-out" if protocol == "view2" else "train")
res = {}
def shifted(x, dy, dx, s=4):
    p = np.pad(x, [[0, 0], [s, s], [s, s], [0, 0]], mode="reflect")
    h, w = x.shape[1:3]
    return p[:, s + dy: s + dy + h, s + dx: s + dx + w]
SH2 = [(0, 0), (2, 0), (-2, 0), (0, 2), (0, -2)]
SH4 = SH2 + [(2, 2), (2, -2), (-2, 2), (-2, -2)]
for k in folds:
    split = splits[k - 1]
    m = registry.create("triplet-semi-hard", seed=0, quick=False, **params)
    images = lfw.load_images(m.preprocess)
    labels = np.unique(lfw.labels, return_inverse=True)[1]
    tr = split.train_images
    _, ytr = np.unique(labels[tr], return_inverse=True)
    m.fit(images[tr], ytr)
    tp, xp = split.threshold_pairs, split.test_pairs
    need = np.unique(np.concatenate([tp.index_a, tp.index_b, xp.index_a, xp.index_b]))
    pos = lambda idx: np.searchsorted(need, idx)
    t0 = time.time()
    views = {}
    for flip in (False, True):
        for dy, dx in SH4:
            f = lambda x: shifted(x[:, :, ::-1] if flip else x, dy, dx)
            views[(flip, dy, dx)] = (m.embed(f(images[tr])), m.embed(f(images[need])))
    print("embedded", time.time() - t0, flush=True)
    def avg(keys):
        return (np.mean([views[q][0] for q in keys], 0), np.mean([views[q][1] for q in keys], 0))
    tta = {"none": [(False, 0, 0)], "flip": [(False, 0, 0), (True, 0, 0)],
           "flip+sh2": [(f, dy, dx) for f in (False, True) for dy, dx in SH2],
           "flip+sh2x2": [(f, dy, dx) for f in (False, True) for dy, dx in SH4]}
    def evaluate(tag, score):
        st, sx = score(tp), score(xp)
        t, _ = vm.best_threshold(st, tp.same)
        acc, auc = vm.accuracy_at(sx, xp.same, t), vm.auc(sx, xp.same)
        res.setdefault(tag, {})[k] = {"acc": acc, "auc": auc, "scores": sx.tolist(), "same": xp.same.tolist()}
        print(f"fold {k} {tag:32s} acc {100*acc:.2f} auc {auc:.4f}", flush=True)
    for name, keys in tta.items():
        Xtr, Xte = avg(keys)
        Z = Xte / np.linalg.norm(Xte, axis=1, keepdims=True)
        evaluate(f"cos {name}", lambda ps: np.sum(Z[pos(ps.index_a)] * Z[pos(ps.index_b)], 1))
        rng = np.random.default_rng(0)
        sub = Xtr[np.sort(rng.choice(len(Xtr), 4000, replace=False))]
        pca = PCA(64, whiten=True, svd_solver="randomized", n_iter=4, random_state=0, dtype=np.float32).fit(sub)
        Ztr, Zte = pca.transform(Xtr).astype(np.float64), pca.transform(Xte).astype(np.float64)
        for it in (1, 2, 3, 5):
            jb = JointBayesian(n_iter=it).fit(Ztr, ytr)
            evaluate(f"jb64 it{it} {name}", lambda ps: jb.score_paired(Zte[pos(ps.index_a)], Zte[pos(ps.index_b)]))
json.dump(res, open(json_out, "w"))
