"""The tables of this folder's README, printed from the results.json / statistics.jsonl / history.json
the runs wrote (so no figure there is typed in): python reports/gpu-h100/triplet-300ep/tables.py"""
from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
COS, JB = "triplet-semi-hard", "triplet-semi-hard+jb"


def results(path: Path) -> dict:
    return json.loads((path / "results.json").read_text())


def acc_auc(entry: dict | None) -> str:
    if entry is None:
        return "—"
    return f"{100 * entry['accuracy_mean']:.2f} / {entry['auc']:.4f}"


def setting(params: dict) -> str:
    width = params.get("backbone_kwargs", {}).get("width")
    return f"{params['epochs']} ep, shift {params['shift']}, P {params['p']}, w{width}"


def view1_budgets() -> None:
    print("| View 1 run | setting | cosine, 1 view | JB, 1 view | cosine, 18 views | **JB, 18 views** | fit s |")
    print("|---|---|---|---|---|---|---|")
    for run in sorted((HERE / "view1").glob("semi-hard-*-v1*")):
        if run.name.endswith("-tta"):
            continue
        plain, tta = results(run), results(run.with_name(run.name + "-tta"))
        m, t = plain["methods"], tta["methods"]
        print(f"| `{run.name}` | {setting(plain['params'])} | {acc_auc(m.get(COS))} | {acc_auc(m.get(JB))} | "
              f"{acc_auc(t.get(COS))} | **{acc_auc(t.get(JB))}** | {m[COS]['fit_seconds']:.0f} |")


EPOCHS = (10, 30, 60, 100, 300)  # 1-based epochs at which the probe batch's statistics are shown


def statistics(run: Path) -> dict:
    rows = [json.loads(line) for line in (run / "statistics.jsonl").read_text().splitlines()]
    at = {k: [rows[e - 1][f"triplet/{k}"] for e in EPOCHS] for k in ("frac_easy", "frac_hard", "spread")}
    at["epochs_collapsed"] = sum(int(r["triplet/collapsed"]) for r in rows)
    loss = json.loads((run / "history.json").read_text())["history"]["loss"]
    at["loss_first_last"] = (loss[0], loss[-1])
    return at


def view1_strategies() -> None:
    at = " / ".join(map(str, EPOCHS))
    print(f"| View 1, 300 ep, shift 4, P 32, w32 | cosine, 1 view (acc % / AUC) | cosine, 18 views | "
          f"easy fraction, epoch {at} | hard fraction, epoch {at} | spread, epoch {at} | epochs collapsed | "
          "loss first → last epoch |")
    print("|---|---|---|---|---|---|---|---|")
    for run in sorted((HERE / "view1").glob("*-e300-s4-v1*")):
        if run.name.endswith("-tta") or not (run / "statistics.jsonl").exists():
            continue
        method = next(iter(results(run)["methods"]))
        plain, tta = results(run)["methods"][method], results(run.with_name(run.name + "-tta"))["methods"][method]
        s = statistics(run)
        row = [" / ".join(f"{v:.2f}" for v in s[k]) for k in ("frac_easy", "frac_hard", "spread")]
        print(f"| `{method}` (`{run.name}`) | {acc_auc(plain)} | {acc_auc(tta)} | {' | '.join(row)} | "
              f"{s['epochs_collapsed']} | {s['loss_first_last'][0]:.3f} → {s['loss_first_last'][1]:.3f} |")


def view2_folds() -> None:
    print("| fold | seed 0: cosine | JB | cosine, 18 views | **JB, 18 views** | seed 1: cosine | JB | "
          "cosine, 18 views | JB, 18 views |")
    print("|---|---|---|---|---|---|---|---|---|")
    for k in range(1, 11):
        cells = []
        for seed in (0, 1):
            base = HERE / f"view2-seed{seed}" / f"semi-hard-gpu-fold{k}"
            for run in (base, base.with_name(base.name + "-tta")):
                m = results(run)["methods"]
                cells += [f"{100 * m[COS]['accuracy_mean']:.2f}", f"{100 * m[JB]['accuracy_mean']:.2f}"]
        cells[3] = f"**{cells[3]}**"
        print(f"| {k} | " + " | ".join(cells) + " |")


def view2_summary() -> None:
    print("| ten View 2 folds, held-out threshold | accuracy % (mean ± SE over folds) | AUC | EER % | fit s (sum) |")
    print("|---|---|---|---|---|")
    for merged in ("merged-seed0", "merged-seed0-tta", "merged-seed1", "merged-seed1-tta"):
        for name, m in results(HERE / merged)["methods"].items():
            views = "18 views" if merged.endswith("tta") else "1 view"
            print(f"| seed {merged[11]}, {name}, {views} (`{merged}`) | {100 * m['accuracy_mean']:.2f} ± "
                  f"{100 * m['accuracy_se']:.2f} | {m['auc']:.4f} | {100 * m['eer']:.1f} | {m['fit_seconds']:.0f} |")


def cpu_rescore() -> None:
    print("| seed 0, 18 views | H100, JAX: accuracy % / AUC | this CPU, TensorFlow: accuracy % / AUC | "
          "largest per-fold AUC difference | per-fold accuracy differences |")
    print("|---|---|---|---|---|")
    gpu = results(HERE / "merged-seed0-tta")["methods"]
    cpu = json.loads((HERE / "cpu-rescore-seed0-tta" / "merged-results.json").read_text())["methods"]
    for name in (COS, JB):
        folds = [(results(HERE / "view2-seed0" / f"semi-hard-gpu-fold{k}-tta")["methods"][name],
                  results(HERE / "cpu-rescore-seed0-tta" / f"fold{k}")["methods"][name]) for k in range(1, 11)]
        auc_gap = max(abs(g["auc"] - c["auc"]) for g, c in folds)
        acc_gaps = [round(100 * (c["accuracy_mean"] - g["accuracy_mean"]), 2) for g, c in folds]
        print(f"| {name} | {100 * gpu[name]['accuracy_mean']:.2f} ± {100 * gpu[name]['accuracy_se']:.2f} / "
              f"{gpu[name]['auc']:.5f} | {100 * cpu[name]['accuracy_mean']:.2f} ± {100 * cpu[name]['accuracy_se']:.2f} / "
              f"{cpu[name]['auc']:.5f} | {auc_gap:.5f} | {', '.join(f'{d:+.2f}' for d in acc_gaps)} |")


if __name__ == "__main__":
    for table in (view1_budgets, view1_strategies, view2_folds, view2_summary, cpu_rescore):
        print(f"\n<!-- {table.__name__} -->")
        table()
