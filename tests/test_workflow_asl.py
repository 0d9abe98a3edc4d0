"""The States Language core: paths, the data flow of a state, intrinsic functions, Choice rules,
Retry/Catch matching and the checks of a definition."""

from __future__ import annotations

import base64
import hashlib

import pytest

from mlyard.errors import ValidationError
from mlyard.workflow import StatesError, check, choice, dataflow, intrinsics, paths, problems
from mlyard.workflow.errors import matches

DATA = {"a": {"b": [10, 20, {"c": "x"}]}, "items": [{"n": 1, "v": "p"}, {"n": 5, "v": "q"}], "s": "hello",
        "key with space": 3}
CONTEXT = {"Execution": {"Id": "exec-1", "Input": {"k": 1}}, "State": {"Name": "S"}}


# -- paths ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("path, expected", [
    ("$", DATA),
    ("$.a.b[1]", 20),
    ("$.a.b[2].c", "x"),
    ("$['key with space']", 3),
    ("$.a.b[-1]", {"c": "x"}),
    ("$.items[*].n", [1, 5]),
    ("$..n", [1, 5]),
    ("$.items[?(@.n > 2)].v", ["q"]),
    ("$.a.b[0:2]", [10, 20]),
    ("$.nothing[*]", []),
])
def test_a_path_reads_one_node_or_the_list_of_what_it_selects(path: str, expected: object) -> None:
    assert paths.read(path, DATA) == expected


def test_a_reference_path_that_selects_nothing_is_missing_and_context_paths_read_the_context() -> None:
    assert paths.read("$.a.zz", DATA) is paths.MISSING
    assert paths.read("$.a.b[7]", DATA) is paths.MISSING
    assert paths.read("$$.Execution.Input.k", DATA, CONTEXT) == 1
    assert paths.is_reference("$.a.b[0]") and not paths.is_reference("$.a[*]")
    with pytest.raises(paths.PathError, match="not a path"):
        paths.parse("a.b")
    with pytest.raises(paths.PathError, match="not a valid JSONPath"):
        paths.parse("$.a[")


def test_put_places_a_value_making_objects_on_the_way_and_never_changes_its_input() -> None:
    data = {"a": {"x": 1}}
    assert paths.put("$.a.r", data, 5, "E") == {"a": {"x": 1, "r": 5}}
    assert paths.put("$.new.deep", data, [1], "E") == {"a": {"x": 1}, "new": {"deep": [1]}}
    assert data == {"a": {"x": 1}}
    assert paths.put("$", data, 7, "E") == 7
    with pytest.raises(StatesError) as err:
        paths.put("$.a.x.y", data, 1, "States.ResultPathMatchFailure")
    assert err.value.error == "States.ResultPathMatchFailure" and "before 'y' is not an object" in err.value.cause


# -- data flow ------------------------------------------------------------------------------------
def test_data_flows_through_input_path_parameters_result_selector_result_path_output_path() -> None:
    state = {"InputPath": "$.job", "Parameters": {"Name.$": "$.name", "Fixed": {"k": [1, 2]}, "Id.$": "$$.Execution.Id",
                                                  "Greeting.$": "States.Format('hi {}', $.name)"},
             "ResultSelector": {"Out.$": "$.raw"}, "ResultPath": "$.result", "OutputPath": "$.result"}
    raw_input = {"job": {"name": "n1"}, "other": 1}
    effective = dataflow.input_path(state, raw_input, CONTEXT)
    assert effective == {"name": "n1"}
    params = dataflow.template(state["Parameters"], effective, CONTEXT)
    assert params == {"Name": "n1", "Fixed": {"k": [1, 2]}, "Id": "exec-1", "Greeting": "hi n1"}
    result = dataflow.template(state["ResultSelector"], {"raw": 42}, CONTEXT, "ResultSelector")
    assert result == {"Out": 42}
    placed = dataflow.result_path(state, raw_input, result)  # into the state's raw input, before InputPath
    assert placed == {"job": {"name": "n1"}, "other": 1, "result": {"Out": 42}}
    assert dataflow.output_path(state, placed, CONTEXT) == {"Out": 42}


def test_null_paths_give_empty_input_discard_the_result_and_give_empty_output() -> None:
    state = {"InputPath": None, "ResultPath": None, "OutputPath": None}
    assert dataflow.input_path(state, {"x": 1}, CONTEXT) == {}
    assert dataflow.result_path(state, {"x": 1}, {"r": 2}) == {"x": 1}
    assert dataflow.output_path(state, {"x": 1}, CONTEXT) == {}
    assert dataflow.result_path({}, {"x": 1}, {"r": 2}) == {"r": 2}  # default "$": the result replaces the input


def test_a_parameter_path_that_selects_nothing_fails_with_parameter_path_failure() -> None:
    with pytest.raises(StatesError) as err:
        dataflow.template({"A.$": "$.missing"}, {"x": 1}, CONTEXT)
    assert err.value.error == "States.ParameterPathFailure" and "$.missing" in err.value.cause
    with pytest.raises(StatesError) as err:
        dataflow.input_path({"InputPath": "$.nope"}, {"x": 1}, CONTEXT)
    assert err.value.error == "States.Runtime"


# -- intrinsic functions --------------------------------------------------------------------------
@pytest.mark.parametrize("expression, expected", [
    ("States.Format('Hello, {}! {} {}', $.s, 3, true)", "Hello, hello! 3 true"),
    (r"States.Format('a \{\} {}', 'b')", "a {} b"),
    ("States.StringToJson('{\"x\": [1]}')", {"x": [1]}),
    ("States.JsonToString($.a)", '{"b":[10,20,{"c":"x"}]}'),
    ("States.Array(1, 'two', $.a.b[0], null)", [1, "two", 10, None]),
    ("States.ArrayPartition(States.ArrayRange(1, 7, 1), 3)", [[1, 2, 3], [4, 5, 6], [7]]),
    ("States.ArrayContains($.a.b, 20)", True),
    ("States.ArrayRange(10, 0, -5)", [10, 5, 0]),
    ("States.ArrayGetItem($.a.b, 1)", 20),
    ("States.ArrayLength($.items)", 2),
    ("States.ArrayUnique(States.Array(1, 2, 1, 'a', 'a'))", [1, 2, "a"]),
    ("States.Base64Encode('mlyard')", base64.b64encode(b"mlyard").decode()),
    ("States.Base64Decode('bWx5YXJk')", "mlyard"),
    ("States.Hash('mlyard', 'SHA-256')", hashlib.sha256(b"mlyard").hexdigest()),
    ("States.JsonMerge(States.StringToJson('{\"a\":1,\"b\":1}'), States.StringToJson('{\"b\":2}'), false)",
     {"a": 1, "b": 2}),
    ("States.MathAdd(40, -2)", 38),
    ("States.StringSplit('a.b+c,,d', '.+,')", ["a", "b", "c", "d"]),
    ("States.MathRandom(5, 6)", 5),
])
def test_intrinsic_functions_give_what_the_states_language_says(expression: str, expected: object) -> None:
    assert intrinsics.evaluate(intrinsics.parse(expression), DATA, CONTEXT) == expected


def test_uuid_and_seeded_random() -> None:
    a = intrinsics.evaluate(intrinsics.parse("States.UUID()"), {}, {})
    assert len(a) == 36 and a != intrinsics.evaluate(intrinsics.parse("States.UUID()"), {}, {})
    seeded = intrinsics.parse("States.MathRandom(0, 1000, 7)")
    values = {intrinsics.evaluate(seeded, {}, {}) for _ in range(3)}
    assert len(values) == 1 and 0 <= values.pop() < 1000


@pytest.mark.parametrize("expression, message", [
    ("States.Nope(1)", "not an intrinsic function"),
    ("States.Format('x'", r"expected ',' or '\)'"),
    ("States.ArrayLength(1, 2)", "takes 1 argument"),
    ("States.Format('unclosed)", "not closed"),
    ("States.Array(@)", "unexpected '@'"),
])
def test_an_intrinsic_that_does_not_parse_says_why(expression: str, message: str) -> None:
    with pytest.raises(intrinsics.IntrinsicSyntaxError, match=message):
        intrinsics.parse(expression)


@pytest.mark.parametrize("expression, message", [
    ("States.ArrayGetItem($.a.b, 9)", "outside the array"),
    ("States.Format('{} {}', 1)", "more {}"),
    ("States.ArrayLength($.s)", "must be an array"),
    ("States.Hash('x', 'CRC')", "not one of"),
    ("States.JsonMerge(States.StringToJson('{}'), States.StringToJson('{}'), true)", "only the shallow merge"),
    ("States.StringToJson('{bad')", "StringToJson failed"),
    ("States.ArrayLength($.missing)", "selects nothing"),
])
def test_an_intrinsic_that_fails_raises_intrinsic_failure(expression: str, message: str) -> None:
    with pytest.raises(StatesError) as err:
        intrinsics.evaluate(intrinsics.parse(expression), DATA, CONTEXT)
    assert err.value.error == "States.IntrinsicFailure" and message in err.value.cause


# -- Choice ----------------------------------------------------------------------------------------
CHOICE = {"Type": "Choice", "Choices": [
    {"Variable": "$.mse", "NumericLessThanEquals": 3000, "Next": "Deploy"},
    {"And": [{"Variable": "$.name", "StringMatches": "model-*"},
             {"Not": {"Variable": "$.flag", "BooleanEquals": True}}], "Next": "Named"},
    {"Variable": "$.when", "TimestampGreaterThanPath": "$.since", "Next": "Later"},
    {"Variable": "$.maybe", "IsPresent": False, "Next": "Absent"},
], "Default": "Fail"}


@pytest.mark.parametrize("data, expected", [
    ({"mse": 2500, "maybe": 1}, "Deploy"),
    ({"mse": "2500", "name": "model-7", "flag": False, "maybe": 1}, "Named"),  # a string is never a number
    ({"mse": 9999, "name": "model-7", "flag": True, "when": "2026-01-02T00:00:00Z", "since": "2026-01-01T00:00:00Z",
      "maybe": 1}, "Later"),
    ({"mse": 9999, "name": "other", "when": "2026-01-01T00:00:00Z", "since": "2026-01-01T00:00:00Z"}, "Absent"),
    ({"mse": 9999, "name": "x", "when": "2026-01-01T00:00:00Z", "since": "2026-01-02T00:00:00Z", "maybe": None},
     "Fail"),
])
def test_choice_rules_are_tried_in_order_without_coercion(data: dict[str, object], expected: str) -> None:
    assert choice.choose(CHOICE, data, CONTEXT) == expected


def test_no_match_without_default_and_a_missing_variable_are_errors() -> None:
    rules = {"Type": "Choice", "Choices": [{"Variable": "$.x", "NumericEquals": 1, "Next": "A"}]}
    with pytest.raises(StatesError) as err:
        choice.choose(rules, {"x": 2}, CONTEXT)
    assert err.value.error == "States.NoChoiceMatched"
    with pytest.raises(StatesError) as err:
        choice.choose(rules, {"y": 1}, CONTEXT)
    assert err.value.error == "States.Runtime" and "$.x" in err.value.cause


def test_string_matches_escapes_and_type_tests() -> None:
    assert choice.matches({"Variable": "$.s", "StringMatches": r"a\*b*"}, {"s": "a*bcd"}, {})
    assert not choice.matches({"Variable": "$.s", "StringMatches": r"a\*b"}, {"s": "axb"}, {})
    assert choice.matches({"Variable": "$.v", "IsNumeric": True}, {"v": 1.5}, {})
    assert not choice.matches({"Variable": "$.v", "IsNumeric": True}, {"v": True}, {})
    assert choice.matches({"Variable": "$.v", "IsTimestamp": True}, {"v": "2026-12-02T10:00:00+01:00"}, {})
    assert not choice.matches({"Variable": "$.v", "IsTimestamp": True}, {"v": "2026-12-02"}, {})
    assert choice.matches({"Variable": "$.v", "IsNull": True}, {"v": None}, {})


# -- Retry / Catch matching -------------------------------------------------------------------------
def test_error_matching_follows_the_states_language_rules() -> None:
    assert matches(["States.ALL"], "SageMaker.TrainingJobFailed")
    assert not matches(["States.ALL"], "States.Runtime")  # terminal: never retried or caught
    assert matches(["States.TaskFailed"], "States.IntrinsicFailure")
    assert not matches(["States.TaskFailed"], "States.Timeout")
    assert matches(["States.Timeout"], "States.Timeout")
    assert not matches(["Custom.A"], "Custom.B")


# -- checks of a definition ------------------------------------------------------------------------
def test_a_valid_definition_has_no_problems() -> None:
    definition = {
        "StartAt": "Prepare", "States": {
            "Prepare": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.prep", "Next": "Fan"},
            "Fan": {"Type": "Parallel", "Branches": [
                {"StartAt": "B1", "States": {"B1": {"Type": "Wait", "Seconds": 0, "End": True}}},
                {"StartAt": "B2", "States": {"B2": {"Type": "Pass", "End": True}}}], "Next": "Each"},
            "Each": {"Type": "Map", "ItemsPath": "$[0]", "MaxConcurrency": 2,
                     "ItemSelector": {"v.$": "$$.Map.Item.Value"},
                     "ItemProcessor": {"StartAt": "M", "States": {"M": {"Type": "Pass", "End": True}}},
                     "Next": "Train"},
            "Train": {"Type": "Task", "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                      "Parameters": {"TrainingJobName.$": "$$.Execution.Name"},
                      "Retry": [{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 2, "BackoffRate": 1.5,
                                 "JitterStrategy": "FULL", "MaxDelaySeconds": 5}],
                      "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
                      "Next": "Gate"},
            "Gate": {"Type": "Choice", "Choices": [{"Variable": "$.mse", "NumericLessThan": 10, "Next": "Done"}],
                     "Default": "Failed"},
            "Done": {"Type": "Succeed"},
            "Failed": {"Type": "Fail", "Error": "QualityGate", "CausePath": "States.Format('mse {}', $.mse)"},
        }}
    assert problems(definition) == []
    check(definition)


def test_every_problem_of_a_bad_definition_is_listed_by_state_name() -> None:
    definition = {
        "StartAt": "A", "States": {
            "A": {"Type": "Pass", "Next": "Nowhere"},
            "B": {"Type": "Teleport", "End": True},
            "C": {"Type": "Choice", "Choices": []},
            "D": {"Type": "Wait", "Seconds": 5, "SecondsPath": "$.s", "End": True},
            "E": {"Type": "Task", "Resource": "x", "Parameters": {"p.$": "States.Nope()"}, "ResultPath": "$.a[*]",
                  "End": True},
            "F": {"Type": "Pass", "Parameters": {"q.$": "$.a["}, "End": True},
            "G": {"Type": "Task", "Resource": "x", "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}],
                  "End": True},
        }}
    found = problems(definition)
    text = "\n".join(found)
    assert "State 'A': Next 'Nowhere' names no state" in text
    assert "State 'B': Type 'Teleport' is not a state type" in text
    assert "State 'C': a Choice state needs Choices" in text
    assert "State 'D': a Wait state needs exactly one of Seconds, Timestamp, SecondsPath, TimestampPath" in text
    assert "State 'E': Parameters 'p.$'" in text and "not an intrinsic function" in text
    assert "State 'E': ResultPath '$.a[*]' must be a reference path" in text
    assert "State 'F': Parameters 'q.$'" in text and "not a valid JSONPath" in text
    assert "State 'G': Retry[0]: States.ALL must be in the last retrier" in text
    for name in "BCDEFG":
        assert f"State '{name}': is not reachable" in text
    with pytest.raises(ValidationError) as err:
        check(definition)
    assert "problems" in err.value.message and "Nowhere" in err.value.message


def test_states_in_a_branch_cannot_go_to_states_outside_it() -> None:
    definition = {"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Branches": [{"StartAt": "In", "States": {"In": {"Type": "Pass", "Next": "Out"}}}],
              "Next": "Out"},
        "Out": {"Type": "Succeed"}}}
    assert any("State 'In': Next 'Out' names no state" in p for p in problems(definition))


def test_choice_rules_and_names_are_checked() -> None:
    definition = {"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [
            {"Variable": "$.x", "NumericEquals": "3", "Next": "S"},
            {"Variable": "$.x", "NumericEquals": 3, "StringEquals": "3", "Next": "S"},
            {"And": [{"Variable": "$.x", "IsNull": True, "Next": "S"}], "Next": "S"},
            {"Variable": "$.t", "TimestampEquals": "yesterday", "Next": "S"}]},
        "S": {"Type": "Succeed"}}}
    text = "\n".join(problems(definition))
    assert "Choices[0]: NumericEquals compares with a numeric value" in text
    assert "Choices[1] needs exactly one comparison" in text
    assert "Choices[2].And[0]: a rule inside And/Or/Not has no Next" in text
    assert "Choices[3]: TimestampEquals takes an RFC 3339 timestamp" in text
    assert problems({"StartAt": "x" * 81, "States": {"x" * 81: {"Type": "Succeed"}}})[0].endswith(
        "longer than 80 characters")
    assert problems([]) == ["the definition must be a JSON object with StartAt and States"]
