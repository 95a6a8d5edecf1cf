package ingest

import (
	"sync"
	"time"
)

// progress reports a load's steps: reading each file, tokenising, the five
// validation queries, counting. DuckDB cannot report how far it is through
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

func newProgress(opt Options, files int) *progress {
	return &progress{opt: opt, total: files + 7}
}

// start says a step has begun.
func (p *progress) start(step string) {
	p.mu.Lock()
	p.current, p.since = step, time.Now()
	n := p.n
	p.mu.Unlock()
	if p.opt.Progress != nil {
		p.opt.Progress(n, p.total, step)
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
	n := p.n
	p.current = ""
	p.mu.Unlock()
	if p.opt.Progress != nil {
		p.opt.Progress(n, p.total, step)
		return
	}
	p.opt.logger().Debug("ingest step done", "step", step, "done", n, "of", p.total)
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
