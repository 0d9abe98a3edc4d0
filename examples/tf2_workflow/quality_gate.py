"""The retraining workflow's quality gate, a function the workflow invokes (a LambdaStep): mlyard
runs it in a processing job of its own, with the evaluation's figures as its event."""

from __future__ import annotations

from typing import Any


def quality_gate(event: dict[str, Any], context: Any) -> dict[str, Any]:
    mse, max_mse = float(event["mse"]), float(event["max_mse"])
    passed = mse <= max_mse
    verdict = "passes" if passed else "fails"
    print(f"{context.function_name}: test MSE {mse:.1f} {verdict} the gate (at most {max_mse:g})")
    return {"passed": passed, "mse": mse, "max_mse": max_mse,
            "reason": f"test MSE {mse:.1f} {'<=' if passed else '>'} {max_mse:g}"}
