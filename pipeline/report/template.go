package report

import "html/template"

var pageTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Attendance and health programmes — {{.TrustName}} — release {{.Manifest.ReleaseID}}</title>
<style>
  body { font-family: Arial, Helvetica, sans-serif; color: #0b0c0c; background: #fff; max-width: 60rem; margin: 0 auto; padding: 1rem 1.5rem; line-height: 1.5; }
  h1 { font-size: 1.9rem; margin-bottom: 0.2rem; }
  h2 { font-size: 1.4rem; margin-top: 2.2rem; border-top: 2px solid #0b0c0c; padding-top: 0.6rem; }
  h3 { font-size: 1.15rem; margin-top: 1.6rem; }
  .meta { color: #505a5f; }
  .headline { font-size: 1.25rem; font-weight: bold; }
  table { border-collapse: collapse; margin: 0.8rem 0; width: 100%; }
  th, td { border-bottom: 1px solid #b1b4b6; padding: 0.35rem 0.5rem; text-align: left; vertical-align: top; }
  th { background: #f3f2f1; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  figure { margin: 1rem 0; }
  figcaption { color: #505a5f; font-size: 0.95rem; }
  svg { max-width: 100%; height: auto; }
  .note { background: #f3f2f1; border-left: 5px solid #005a9c; padding: 0.6rem 1rem; }
  @media print { body { max-width: none; } h2 { break-before: auto; } figure, table { break-inside: avoid; } }
</style>
</head>
<body>
<header>
<h1>Attendance and health programmes</h1>
<p class="meta">{{.TrustName}} · {{.Manifest.Kind}} release <code>{{.Manifest.ReleaseID}}</code> · drawn {{.Manifest.CreatedAt.Format "2 January 2006"}}{{with .Manifest.Approval}} · approved by {{.By}} on {{.At.Format "2 January 2006"}}{{else}}{{if eq .Manifest.Kind "final"}} · published only once approved: the approver is recorded in manifest.json{{end}}{{end}}</p>
</header>
<main>
<section aria-labelledby="headlines">
<h2 id="headlines">Headlines</h2>
<p>For each programme: how the attendance rate of pupils who took part changed between the first and the last
term in this release, compared with the change for the other pupils of the trust. A positive number means
participants' attendance rose by more than other pupils'. The range is an approximate 95% interval for the
noise added to protect privacy: it combines the four published intervals as if their noise were independent,
which it is only in part (the other pupils' figures are all pupils' minus participants').</p>
<table>
<caption class="meta">Change in attendance rate, participants minus other pupils, percentage points</caption>
<thead><tr><th scope="col">Programme</th><th scope="col">Change, points</th><th scope="col">95% interval</th></tr></thead>
<tbody>
{{range .Programmes}}<tr><th scope="row">{{.Name}}</th>{{if .Change.Available}}<td class="num headline">{{printf "%+.1f" .Change.Value}}</td><td class="num">{{printf "%+.1f" .Change.Lower}} to {{printf "%+.1f" .Change.Upper}}</td>{{else}}<td colspan="2">not available: a figure was suppressed</td>{{end}}</tr>
{{end}}</tbody>
</table>
<p class="note">These are descriptive comparisons between groups, not proof that a programme caused the change:
pupils who take part differ from those who do not (they are often chosen because their attendance is low).</p>
</section>

{{if .Impact}}
<section aria-labelledby="impact">
<h2 id="impact">Did attendance change for pupils who took part?</h2>
<p>For each programme: the change in each participant's attendance rate from the six school weeks before their
first programme session to the six school weeks after it (counted in possible sessions, so holidays do not
count), averaged over participants; the same change for a comparison group of pupils who took part in no
programme, from the schools and year groups where the programme runs, given pretend start dates drawn like the participants' and weighted to match the participants'
earlier attendance and free school meals status; and the difference between the two (a
"difference in differences", in percentage points). A positive difference means participants' attendance
rose by more than similar pupils'. The interval is an approximate 95% interval that allows for both the noise
added for privacy and the chance variation between pupils.</p>
<table>
<caption class="meta">Change in attendance rate after the first programme session, percentage points (95% interval)</caption>
<thead><tr><th scope="col">Programme</th><th scope="col">Period</th><th scope="col">Group</th><th scope="col">Pupils (participants / comparison)</th><th scope="col">Participants</th><th scope="col">Comparison</th><th scope="col">Difference</th><th scope="col">Difference in persistent absence</th></tr></thead>
<tbody>
{{range .Impact}}<tr><th scope="row">{{.Programme}}</th><td>{{.Period}}</td><td>{{.Breakdown}}</td>{{if .Suppressed}}<td colspan="5">c: too few pupils to publish reliably</td>{{else}}<td class="num">{{.Pupils}}</td><td class="num">{{.Participants.PointsString}}</td><td class="num">{{.Comparison.PointsString}}</td><td class="num headline">{{.Difference.PointsString}}</td><td class="num">{{.PADiff.PointsString}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
<p class="note">The comparison makes the groups alike in earlier attendance and free school meals, not in everything:
pupils chosen for a programme may differ in ways the data do not show, so a difference is evidence of an
association with the programme, not proof that it caused the change.</p>
</section>
{{end}}

<section aria-labelledby="programmes">
<h2 id="programmes">Attendance by programme and term</h2>
{{range .Programmes}}
<h3>{{.Name}}</h3>
<figure>
{{.Chart}}
<figcaption>{{.ChartAlt}}</figcaption>
</figure>
<table>
<thead><tr><th scope="col">Term</th><th scope="col">Participants (pupils)</th><th scope="col">Participants' attendance</th><th scope="col">Other pupils' attendance</th></tr></thead>
<tbody>
{{range .Terms}}<tr><th scope="row">{{.Term}}</th><td class="num">{{.ParticipantPupils}}</td><td>{{.Participants}}</td><td>{{.Others}}</td></tr>
{{end}}</tbody>
</table>
{{end}}
</section>

<section aria-labelledby="overall">
<h2 id="overall">All pupils: attendance and persistent absence</h2>
<figure>
{{.OverallSVG}}
<figcaption>{{.OverallAlt}}</figcaption>
</figure>
<table>
<thead><tr><th scope="col">Term</th><th scope="col">Attendance rate</th><th scope="col">Persistent absence rate</th></tr></thead>
<tbody>
{{range .Overall}}<tr><th scope="row">{{.Term}}</th><td>{{.Participants}}</td><td>{{.Others}}</td></tr>
{{end}}</tbody>
</table>
<p>Attendance rate: sessions attended (present or at an approved educational activity) as a share of possible
sessions. Persistent absence: pupils who missed 10% or more of their own possible sessions in the term. Both
follow the Department for Education's definitions.</p>
</section>

<section aria-labelledby="reading">
<h2 id="reading">How to read these numbers</h2>
<p><strong>Noise.</strong> Every count behind these figures has had a small random amount added before
publication (differential privacy). That is what lets the trust and its NHS partners share the results without
anyone being able to work out anything about an individual child. The noise is larger for small groups, so
small groups' figures are less precise.</p>
<p><strong>Intervals.</strong> "92.1% (91.4 to 92.8)" means the published figure is 92.1% and, allowing for the
noise, the figure before noise lies between 91.4% and 92.8% in 95 releases out of 100. The interval covers the
noise only. It does not cover other uncertainty, such as which pupils happened to take part, or the small
effect of capping each pupil's contribution.</p>
<p><strong>Rounding.</strong> Counts are rounded to the nearest {{.Manifest.Privacy.RoundingBase}}.</p>
<p><strong>Suppression.</strong> Where a group's noisy pupil count is below {{.Manifest.Privacy.SuppressBelow}}, its
figures are not published ("c" in the data files): they would be too imprecise to be useful. {{.Suppressed}} of
the {{.Rows}} rows in this release are suppressed.</p>
</section>

<section aria-labelledby="privacy">
<h2 id="privacy">About this release</h2>
<table>
<tbody>
<tr><th scope="row">Release</th><td><code>{{.Manifest.ReleaseID}}</code> ({{.Manifest.Kind}})</td></tr>
<tr><th scope="row">Privacy unit</th><td>{{.Manifest.Privacy.Unit}}</td></tr>
<tr><th scope="row">Privacy budget (epsilon)</th><td>{{.Manifest.Privacy.Epsilon}} for this release, delta {{.Manifest.Privacy.Delta}}; {{range $scope, $spent := .Manifest.Privacy.ScopeEpsilonSpent}}{{printf "%.3g" $spent}} of {{printf "%.3g" $.Manifest.Privacy.ScopeEpsilonCap}} spent for {{$scope}}; {{end}}</td></tr>
<tr><th scope="row">Mechanism</th><td>{{.Manifest.Privacy.Mechanism}}</td></tr>
<tr><th scope="row">Contribution bounds</th><td>each pupil in at most {{.Manifest.Privacy.MaxPartitionsPerPupil}} cells per measure;{{range .Manifest.Privacy.Bounds}} {{.Term}}: 0 to {{.Upper}} sessions;{{end}}</td></tr>
<tr><th scope="row">Code version</th><td>{{.Manifest.CodeVersion}}</td></tr>
<tr><th scope="row">Key fingerprint</th><td><code>{{.Manifest.KeyFingerprint}}</code></td></tr>
</tbody>
</table>
</section>
</main>
</body>
</html>
`))
