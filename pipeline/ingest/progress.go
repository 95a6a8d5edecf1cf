package ingest

import (
	"sync"
	"time"
)

// progress reports a load's steps: reading each file, coding attendance
// staged as text (when any was), tokenising, the validation queries (five,
// or three when the roster is kept), counting. DuckDB cannot report how far it is through
// one read back to Go, so progress moves per step, not per row; during a long
// step, the log says every progressEvery which step is still running.
type progress struct {
	opt     Options
	total   int
	mu      sync.Mutex
	n       int
	current string
	since   time.Time
	stop    chan struct{}
	once    sync.Once
}

// progressEvery is how often a still-running step is logged.
var progressEvery = 15 * time.Second

// newProgress starts with the most steps a load of files can take; plan
// sets the true number once the files are read.
func newProgress(opt Options, files int) *progress {
	return &progress{opt: opt, total: files + 8}
}

// plan sets the number of steps, known once the files are read.
func (p *progress) plan(total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total = total
}

// start says a step has begun.
func (p *progress) start(step string) {
	p.mu.Lock()
	p.current, p.since = step, time.Now()
	n, total := p.n, p.total
	p.mu.Unlock()
	if p.opt.Progress != nil {
		p.opt.Progress(n, total, step)
		return
	}
	p.once.Do(func() {
		p.stop = make(chan struct{})
		go p.tick()
	})
}

// done says a step has ended.
func (p *progress) done(step string) {
	p.mu.Lock()
	p.n = min(p.n+1, p.total)
	n, total := p.n, p.total
	p.current = ""
	p.mu.Unlock()
	if p.opt.Progress != nil {
		p.opt.Progress(n, total, step)
		return
	}
	p.opt.logger().Debug("ingest step done", "step", step, "done", n, "of", total)
}

// finish stops the periodic log lines.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop != nil {
		close(p.stop)
		p.stop = nil
	}
}

func (p *progress) tick() {
	p.mu.Lock()
	stop := p.stop
	p.mu.Unlock()
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			p.mu.Lock()
			step, since, n := p.current, p.since, p.n
			p.mu.Unlock()
			if step != "" {
				p.opt.logger().Info("ingest in progress", "step", step, "step_elapsed", time.Since(since).Round(time.Second), "steps_done", n, "of", p.total)
			}
		}
	}
}
