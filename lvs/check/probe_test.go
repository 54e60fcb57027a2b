package check

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
)

func TestAttemptRetries(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	tests := []struct {
		desc      string
		retries   int
		passOn    int // try number that passes; 0 = never
		deadline  time.Time
		wantOK    bool
		wantTries int
	}{
		{desc: "pass first time: one try", retries: 3, passOn: 1, deadline: now.Add(time.Second), wantOK: true, wantTries: 1},
		{desc: "no retries: one failing try", retries: 0, deadline: now.Add(time.Second), wantTries: 1},
		{desc: "retries used up", retries: 2, deadline: now.Add(time.Second), wantTries: 3},
		{desc: "pass on a retry counts as a pass", retries: 2, passOn: 3, deadline: now.Add(time.Second), wantOK: true, wantTries: 3},
		{desc: "pass after retries run out does not count", retries: 1, passOn: 3, deadline: now.Add(time.Second), wantTries: 2},
		{desc: "no retry past the next scheduled check", retries: 5, deadline: now, wantTries: 1},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			calls := 0
			probe := func(ctx context.Context, _ Target) Result {
				calls++
				if _, ok := ctx.Deadline(); !ok {
					t.Error("probe ran without a timeout")
				}
				if calls == tc.passOn {
					return Result{}
				}
				return Result{Err: errors.New("down")}
			}
			spec := &model.CheckSpec{Retries: tc.retries, Timeout: time.Second}
			r, tries := Attempt(context.Background(), probe, spec, Target{}, clock, tc.deadline)
			if r.OK() != tc.wantOK || tries != tc.wantTries || calls != tc.wantTries {
				t.Errorf("ok=%v tries=%d calls=%d, want ok=%v tries=%d", r.OK(), tries, calls, tc.wantOK, tc.wantTries)
			}
		})
	}
}

func TestNewProbeUnknownType(t *testing.T) {
	_, err := NewProbe(&model.CheckSpec{Type: "smtp"})
	if err == nil || !strings.Contains(err.Error(), `"smtp"`) {
		t.Errorf("error %v, want one naming the type", err)
	}
}
