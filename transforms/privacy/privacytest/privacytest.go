// Package privacytest provides a mechanism that adds no noise, so tests can
// check bounding and aggregation exactly. It must never be used outside tests;
// production code always takes the library's Laplace mechanism.
package privacytest

import "github.com/google/differential-privacy/go/v3/noise"

// NoNoise returns values unchanged; its intervals are the value itself.
func NoNoise() noise.Noise { return noNoise{} }

type noNoise struct{}

func (noNoise) AddNoiseInt64(x, _, _ int64, _, _ float64) (int64, error) { return x, nil }
func (noNoise) AddNoiseFloat64(x float64, _ int64, _, _, _ float64) (float64, error) {
	return x, nil
}
func (noNoise) Threshold(_ int64, _, _, _, _ float64) (float64, error) { return 0, nil }
func (noNoise) ComputeConfidenceIntervalInt64(x, _, _ int64, _, _, _ float64) (noise.ConfidenceInterval, error) {
	return noise.ConfidenceInterval{LowerBound: float64(x), UpperBound: float64(x)}, nil
}
func (noNoise) ComputeConfidenceIntervalFloat64(x float64, _ int64, _, _, _, _ float64) (noise.ConfidenceInterval, error) {
	return noise.ConfidenceInterval{LowerBound: x, UpperBound: x}, nil
}
