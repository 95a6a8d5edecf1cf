// Package publish writes a release atomically: every file goes into a hidden
// folder beside the releases, is fsynced, and the folder is renamed into
// place; then OUTPUT/latest, a symlink, is swapped by rename. A reader sees
// the previous release or the new one, never a part of one.
package publish

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Manifest describes a release; manifest.json lists every file with its SHA-256.
type Manifest struct {
	ReleaseID string `json:"release_id"`
	// Kind is provisional (for the trust's data lead) or final (for wider
	// publication, after a named person's approval).
	Kind           string    `json:"kind"`
	CreatedAt      time.Time `json:"created_at"`
	CodeVersion    string    `json:"code_version"`
	KeyFingerprint string    `json:"key_fingerprint"`
	Fingerprint    string    `json:"release_fingerprint"`
	Privacy        Privacy   `json:"privacy"`
	Inputs         []Input   `json:"inputs"`
	Outputs        []Output  `json:"outputs"`
	// Approval records who approved a final release, and when.
	Approval *Approval `json:"approval,omitempty"`
}

// Approval of a final release.
type Approval struct {
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// Input identifies one input file by name and content hash. Its row counts
// are not published: exact counts are not differentially private.
type Input struct {
	Source string `json:"source"`
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
}

// Privacy records the parameters every number in the release was made with.
type Privacy struct {
	Unit             string             `json:"unit"`
	Mechanism        string             `json:"mechanism"`
	Epsilon          float64            `json:"epsilon"`
	Delta            float64            `json:"delta"`
	EpsilonByMeasure map[string]float64 `json:"epsilon_by_measure"`
	// ScopeEpsilonSpent is each scope's (academic year's) spending,
	// this release included.
	ScopeEpsilonSpent     map[string]float64 `json:"scope_epsilon_spent_including_this"`
	ScopeEpsilonCap       float64            `json:"scope_epsilon_cap"`
	MaxPartitionsPerPupil int64              `json:"max_partitions_per_pupil"`
	MaxProgrammesPerPupil int                `json:"max_programmes_per_pupil"`
	Bounds                []Bound            `json:"bounds"`
	RoundingBase          int                `json:"rounding_base"`
	SuppressBelow         int                `json:"suppress_below"`
	Intervals             string             `json:"intervals"`
	// Impact records the impact table's parameters, when it is published.
	Impact *ImpactPrivacy `json:"impact,omitempty"`
}

// ImpactPrivacy records how the impact table was bounded and drawn. Its
// epsilon is part of the release's, split across the impact_* measures of
// EpsilonByMeasure.
type ImpactPrivacy struct {
	Epsilon               float64 `json:"epsilon"`
	MaxPartitionsPerPupil int64   `json:"max_partitions_per_pupil"`
	// MaxMonthsPerPupil bounds a pupil's counts in the histogram of index
	// months (impact_index_months): one per kept programme.
	MaxMonthsPerPupil   int64     `json:"max_months_per_pupil"`
	WindowSessions      int       `json:"window_sessions"`
	MinWindowSessions   int       `json:"min_window_sessions"`
	MaxChangePP         int       `json:"max_change_pp"`
	BaselineBands       []float64 `json:"baseline_bands_pct"`
	MinBaselineSessions int       `json:"min_baseline_sessions"`
	MinStratumPupils    int       `json:"min_stratum_pupils"`
	Breakdowns          []string  `json:"breakdowns"`
	YearGroups          []int     `json:"year_groups,omitempty"`
	Period              string    `json:"period"`
	// ComparisonPools says, per programme id, the schools and year groups
	// its comparison group is drawn from; empty lists mean all of the trust's.
	ComparisonPools map[string]ComparisonPool `json:"comparison_pools"`
	Intervals       string                    `json:"intervals"`
}

// ComparisonPool is where a programme runs, from configuration.
type ComparisonPool struct {
	Schools    []string `json:"schools"`
	YearGroups []int    `json:"year_groups"`
}

// Bound is the declared clamp of one term's per-pupil session sums.
type Bound struct {
	Term  string `json:"term"`
	Lower int64  `json:"lower"`
	Upper int64  `json:"upper"`
}

// Output is one published file.
type Output struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Rows   int    `json:"rows,omitempty"`
}

// File is one file to publish: its name in the release folder and content.
type File struct {
	Name    string
	Rows    int
	Content []byte
}

// ErrIncomplete means a release folder's files do not match its manifest.
var ErrIncomplete = errors.New("release does not match its manifest")

// Write publishes files and the manifest as OUTPUT/releases/<id>/ and points
// OUTPUT/latest at it. An error before the folder is renamed into place
// leaves nothing new; an error moving latest afterwards leaves a complete,
// verifiable release folder that latest does not name yet, and says so.
func Write(outputDir string, m *Manifest, files []File) (string, error) {
	final, err := writeFolder(filepath.Join(outputDir, "releases"), m, files)
	if err != nil {
		return "", err
	}
	if err := PointLatest(outputDir, m.ReleaseID); err != nil {
		return final, fmt.Errorf("release %s is complete in %s, but latest still names the previous release: %w", m.ReleaseID, final, err)
	}
	return final, nil
}

// ErrBadFileName means a release file's name is not a plain file name.
var ErrBadFileName = errors.New("release file names must be plain names inside the release folder")

// writeFolder writes the files and manifest into parent/<id> atomically.
func writeFolder(releases string, m *Manifest, files []File) (string, error) {
	for _, f := range files {
		if f.Name == "" || f.Name != filepath.Base(f.Name) || f.Name == "." || f.Name == ".." || f.Name == "manifest.json" {
			return "", fmt.Errorf("%w: %q", ErrBadFileName, f.Name)
		}
	}
	if err := os.MkdirAll(releases, 0o755); err != nil {
		return "", fmt.Errorf("create releases folder: %w", err)
	}
	final := filepath.Join(releases, m.ReleaseID)
	if _, err := os.Stat(final); err == nil {
		return "", fmt.Errorf("release %s already exists", m.ReleaseID)
	}
	tmp, err := os.MkdirTemp(releases, ".incomplete-"+m.ReleaseID+"-")
	if err != nil {
		return "", fmt.Errorf("create release folder: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed

	m.Outputs = nil
	for _, f := range files {
		sum := sha256.Sum256(f.Content)
		m.Outputs = append(m.Outputs, Output{Path: f.Name, SHA256: hex.EncodeToString(sum[:]), Rows: f.Rows})
		if err := writeSynced(filepath.Join(tmp, f.Name), f.Content); err != nil {
			return "", err
		}
	}
	sort.Slice(m.Outputs, func(i, j int) bool { return m.Outputs[i].Path < m.Outputs[j].Path })
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", err
	}
	if err := writeSynced(filepath.Join(tmp, "manifest.json"), append(manifest, '\n')); err != nil {
		return "", err
	}
	if err := syncDir(tmp); err != nil {
		return "", err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", fmt.Errorf("move release into place: %w", err)
	}
	if err := syncDir(releases); err != nil {
		return "", err
	}
	return final, nil
}

// Stage writes a final release into OUTPUT/pending/<id>/, complete and
// verifiable, where it waits for approval; nothing under releases/ changes.
func Stage(outputDir string, m *Manifest, files []File) (string, error) {
	return writeFolder(filepath.Join(outputDir, "pending"), m, files)
}

// PendingDir is where a final release waits for approval.
func PendingDir(outputDir, id string) string { return filepath.Join(outputDir, "pending", id) }

// Approve records the approval in a pending release's manifest and moves the
// release into releases/<id>, then points latest and final at it. The files
// are verified against the manifest first: what was reviewed is what is
// published.
func Approve(outputDir, id string, approval Approval) (string, error) {
	dir := PendingDir(outputDir, id)
	final := filepath.Join(outputDir, "releases", id)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		// An earlier attempt moved the release but failed to point the links
		// at it: finish that attempt.
		if m, verr := Verify(final); verr == nil && m.Approval != nil && m.Kind == "final" {
			if err := PointLatest(outputDir, id); err != nil {
				return final, err
			}
			return final, pointLink(outputDir, "final", id)
		}
	}
	m, err := Verify(dir)
	if err != nil {
		return "", fmt.Errorf("pending release %s: %w", id, err)
	}
	if m.Kind != "final" {
		return "", fmt.Errorf("release %s is %s, not final: only final releases wait for approval", id, m.Kind)
	}
	m.Approval = &approval
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", err
	}
	tmp := filepath.Join(dir, ".manifest.json.new")
	_ = os.Remove(tmp)
	if err := writeSynced(tmp, append(b, '\n')); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "manifest.json")); err != nil {
		return "", err
	}
	if err := syncDir(dir); err != nil {
		return "", err
	}
	releases := filepath.Join(outputDir, "releases")
	if err := os.MkdirAll(releases, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(dir, final); err != nil {
		return "", fmt.Errorf("move approved release into place: %w", err)
	}
	if err := syncDir(releases); err != nil {
		return "", err
	}
	_ = syncDir(filepath.Join(outputDir, "pending"))
	if err := PointLatest(outputDir, id); err != nil {
		return final, err
	}
	return final, pointLink(outputDir, "final", id)
}

// PointLatest makes OUTPUT/latest a symlink to releases/<id>, atomically.
func PointLatest(outputDir, id string) error {
	return pointLink(outputDir, "latest", id)
}

// pointLink makes OUTPUT/<name> a symlink to releases/<id>, atomically.
func pointLink(outputDir, name, id string) error {
	link := filepath.Join(outputDir, name)
	tmp := link + ".new"
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Join("releases", id), tmp); err != nil {
		return fmt.Errorf("point %s at %s: %w", name, id, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		return fmt.Errorf("point %s at %s: %w", name, id, err)
	}
	return syncDir(outputDir)
}

// Latest returns the id of the release OUTPUT/latest names, or "" if none.
func Latest(outputDir string) (string, error) {
	target, err := os.Readlink(filepath.Join(outputDir, "latest"))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return filepath.Base(target), nil
}

// Verify checks that every file the manifest in dir lists exists with its SHA-256.
func Verify(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIncomplete, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrIncomplete, err)
	}
	for _, o := range m.Outputs {
		f, err := os.Open(filepath.Join(dir, o.Path))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrIncomplete, err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrIncomplete, o.Path, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != o.SHA256 {
			return nil, fmt.Errorf("%w: %s has SHA-256 %s, manifest says %s", ErrIncomplete, o.Path, got, o.SHA256)
		}
	}
	return &m, nil
}

func writeSynced(path string, content []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", filepath.Base(path), err)
	}
	if _, err := io.Copy(f, bytes.NewReader(content)); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", filepath.Base(path), err)
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// RemoveIncomplete deletes the hidden folders that a run killed mid-write
// leaves in releases/ and pending/. Only this program's own temp folders
// (.incomplete-*) are touched.
func RemoveIncomplete(outputDir string) error {
	for _, sub := range []string{"releases", "pending"} {
		entries, err := os.ReadDir(filepath.Join(outputDir, sub))
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			continue // nothing of ours to clear; publishing will report the folder
		}
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.IsDir() && strings.HasPrefix(e.Name(), ".incomplete-") {
				if err := os.RemoveAll(filepath.Join(outputDir, sub, e.Name())); err != nil {
					return fmt.Errorf("remove an incomplete release folder: %w", err)
				}
			}
		}
	}
	_ = os.Remove(filepath.Join(outputDir, "latest.new"))
	_ = os.Remove(filepath.Join(outputDir, "final.new"))
	return nil
}

// Prune removes all but the keep newest releases (ids sort by time), never
// the ones latest or final name. It returns the ids removed.
func Prune(outputDir string, keep int) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(outputDir, "releases"))
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			ids = append(ids, e.Name())
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ids)))
	protected := map[string]bool{}
	for _, link := range []string{"latest", "final"} {
		if target, err := os.Readlink(filepath.Join(outputDir, link)); err == nil {
			protected[filepath.Base(target)] = true
		}
	}
	var removed []string
	for i, id := range ids {
		if i < keep || protected[id] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(outputDir, "releases", id)); err != nil {
			return removed, err
		}
		removed = append(removed, id)
	}
	return removed, syncDir(filepath.Join(outputDir, "releases"))
}
