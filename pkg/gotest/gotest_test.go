package gotest

import (
	"reflect"
	"strings"
	"testing"
)

func parse(t *testing.T, stream string) *Report {
	t.Helper()
	r, err := Parse(strings.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stream string
		want   []Package
		failed bool
	}{{
		name: "pass",
		stream: `{"Action":"start","Package":"a"}
{"Action":"run","Package":"a","Test":"TestA"}
{"Action":"pass","Package":"a","Test":"TestA"}
{"Action":"pass","Package":"a","Test":"TestA/sub"}
{"Action":"pass","Package":"a"}
{"Action":"skip","Package":"b"}`,
		want: []Package{{Name: "a", Result: "pass", Passed: 1}, {Name: "b", Result: "skip"}},
	}, {
		name: "a named failure, its subtest and a passing sibling",
		stream: `{"Action":"fail","Package":"a","Test":"TestA/sub"}
{"Action":"fail","Package":"a","Test":"TestA"}
{"Action":"pass","Package":"a","Test":"TestB"}
{"Action":"output","Package":"a","Output":"FAIL\ta 0.1s\n"}
{"Action":"fail","Package":"a"}`,
		want:   []Package{{Name: "a", Result: "fail", Passed: 1, FailedTests: []string{"TestA"}}},
		failed: true,
	}, {
		// What go test -timeout 1s writes when a test outlives it: the
		// tests after it never ran, whatever the running one reports.
		name: "timeout",
		stream: `{"Action":"pass","Package":"a","Test":"TestA"}
{"Action":"run","Package":"a","Test":"TestSlow"}
{"Action":"output","Package":"a","Test":"TestSlow","Output":"panic: test timed out after 1s\n"}
{"Action":"fail","Package":"a","Test":"TestSlow"}
{"Action":"fail","Package":"a"}`,
		want:   []Package{{Name: "a", Result: "fail", Passed: 1, FailedTests: []string{"TestSlow"}, Unexplained: "panic: test timed out after 1s"}},
		failed: true,
	}, {
		name: "build failure",
		stream: `{"ImportPath":"a [a.test]","Action":"build-output","Output":"# a\n./a.go:1: syntax error\n"}
{"ImportPath":"a [a.test]","Action":"build-fail"}
{"Action":"start","Package":"a"}
{"Action":"output","Package":"a","Output":"FAIL\ta [build failed]\n"}
{"Action":"fail","Package":"a","FailedBuild":"a [a.test]"}`,
		want:   []Package{{Name: "a", Result: "fail", Unexplained: "build failed (a [a.test])"}},
		failed: true,
	}, {
		name:   "failure without a failed test",
		stream: `{"Action":"fail","Package":"a"}`,
		want:   []Package{{Name: "a", Result: "fail", Unexplained: "failed without a failing test"}},
		failed: true,
	}, {
		name:   "a stream that ends before the package",
		stream: `{"Action":"pass","Package":"a","Test":"TestA"}`,
		want:   []Package{{Name: "a", Passed: 1, Unexplained: "no result: the run ended before the package did"}},
		failed: true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r := parse(t, tc.stream)
			if !reflect.DeepEqual(r.Packages, tc.want) {
				t.Errorf("got %+v\nwant %+v", r.Packages, tc.want)
			}
			if r.Failed() != tc.failed {
				t.Errorf("Failed() = %v, want %v", r.Failed(), tc.failed)
			}
		})
	}
}

func TestParseRejectsText(t *testing.T) {
	if _, err := Parse(strings.NewReader("{\"Action\":\"pass\",\"Package\":\"a\"}\nok  \ta\t0.1s\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("got %v, want an error naming line 2", err)
	}
}
