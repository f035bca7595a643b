"""Session 10 search on View 1 (run: python layers_and_jb.py view1 /tmp/tri-v1-shift/run 1 OUT.json): which layer of the kept triplet network, which JB settings (no training)."""
import json, sys, time
import numpy as np
import keras
from facelab.classical.pca import PCA
from sklearn.metrics import roc_auc_score
from facelab import methods as registry
from facelab.data.lfw import LFW
from facelab.evaluation.protocols import verification_splits
from facelab.classical.metric_learning import JointBayesian
from facelab.metrics import verification as vm

protocol, run_dir = sys.argv[1], sys.argv[2]
folds = [int(k) for k in sys.argv[3].split(",")] if len(sys.argv) > 3 else [1]
params = dict(backbone_kwargs={"width": 32}, epochs=40, p=32, weight_decay=5e-4, lr_schedule="cosine",
              precision="float32", shift=4, run_dir=run_dir, progress=False)
lfw = LFW(None, progress=False)
thr = "held-out" if protocol == "view2" else "train"
splits = verification_splits(lfw, protocol, thr)
out = {}
for k in folds:
    split = splits[k - 1]
    m = registry.create("triplet-semi-hard", seed=0, quick=False, **params)
    images = lfw.load_images(m.preprocess)
    labels = np.unique(lfw.labels, return_inverse=True)[1]
    tr = split.train_images
    _, ytr = np.unique(labels[tr], return_inverse=True)
    m.fit(images[tr], ytr)
    bb = m.backbone_
    names = ["embedding", "features", "gap", "relu4", "relu3"]
    ext = keras.Model(bb.input, [bb.get_layer(n).output for n in names])
    def feats(x, flip=False, dx=0, dy=0):
        x = x[:, :, ::-1] if flip else x
        if dx or dy:
            x = np.roll(x, (dy, dx), axis=(1, 2))
        outs = [[] for _ in names]
        for i in range(0, len(x), 256):
            r = ext.predict_on_batch(x[i:i + 256].astype(np.float32) / 255.0)
            for j, o in enumerate(r):
                o = np.asarray(o)
                if o.ndim == 4:  # spatial map → 2×2 grid average pooling
                    h, w = o.shape[1] // 2, o.shape[2] // 2
                    o = np.concatenate([o[:, a*h:(a+1)*h, b*w:(b+1)*w].mean((1, 2)) for a in range(2) for b in range(2)], 1)
                outs[j].append(o.astype(np.float32))
        return {n: np.concatenate(v) for n, v in zip(names, outs)}
    tp, xp = split.threshold_pairs, split.test_pairs
    need = np.unique(np.concatenate([tp.index_a, tp.index_b, xp.index_a, xp.index_b]))
    t0 = time.time()
    F = {False: feats(images[tr]), True: feats(images[tr], flip=True)}
    E = {False: feats(images[need]), True: feats(images[need], flip=True)}
    print("features", time.time() - t0, {n: v.shape for n, v in F[False].items()}, flush=True)
    pos = lambda idx: np.searchsorted(need, idx)
    def l2(x): return x / np.linalg.norm(x, axis=1, keepdims=True)
    def evaluate(tag, score):
        st, sx = score(tp), score(xp)
        t, _ = vm.best_threshold(st, tp.same)
        acc = vm.accuracy_at(sx, xp.same, t)
        auc = roc_auc_score(xp.same, sx)
        out.setdefault(tag, []).append((acc, auc, sx.tolist()))
        print(f"fold {k} {tag:40s} acc {100*acc:.2f} auc {auc:.4f}", flush=True)
    def cos_scorer(Z):
        Z = l2(Z); return lambda ps: np.sum(Z[pos(ps.index_a)] * Z[pos(ps.index_b)], 1)
    evaluate("cos emb", cos_scorer(E[False]["embedding"]))
    evaluate("cos emb flip", cos_scorer(E[False]["embedding"] + E[True]["embedding"]))
    def jb(layer, dim, flipavg=False, flipaug=False, pre_l2=False, n_iter=3, tag=None):
        Xtr = F[False][layer]
        Xte = E[False][layer]
        if flipavg:
            Xtr = 0.5 * (Xtr + F[True][layer]); Xte = 0.5 * (Xte + E[True][layer])
        y = ytr
        if flipaug and not flipavg:
            Xtr = np.concatenate([Xtr, F[True][layer]]); y = np.concatenate([ytr, ytr])
        if pre_l2:
            Xtr, Xte = l2(Xtr), l2(Xte)
        rng = np.random.default_rng(0)
        sub = Xtr if len(Xtr) <= 4000 else Xtr[np.sort(rng.choice(len(Xtr), 4000, replace=False))]
        pca = PCA(min(dim, Xtr.shape[1]), whiten=True, svd_solver="randomized", n_iter=4, random_state=0, dtype=np.float32).fit(sub)
        model = JointBayesian(n_iter=n_iter).fit(pca.transform(Xtr).astype(np.float64), y)
        Z = pca.transform(Xte).astype(np.float64)
        evaluate(tag or f"jb {layer} d{dim} fa{int(flipavg)} faug{int(flipaug)} l2{int(pre_l2)} it{n_iter}",
                 lambda ps: model.score_paired(Z[pos(ps.index_a)], Z[pos(ps.index_b)]))
    jb("embedding", 64)
    jb("embedding", 64, flipavg=True)
    jb("embedding", 64, n_iter=30)
    jb("embedding", 64, flipaug=True)
    for layer in ["features", "gap"]:
        for d in (64, 128):
            jb(layer, d); jb(layer, d, flipavg=True)
    for layer in ["relu4", "relu3"]:
        for d in (64, 128, 200):
            jb(layer, d); jb(layer, d, flipavg=True); jb(layer, d, pre_l2=True, flipavg=True)
json_out = sys.argv[4] if len(sys.argv) > 4 else f"/tmp/x10/{protocol}.json"
json.dump(out, open(json_out, "w"))
