package testsupport

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Gather returns the value of the counter or gauge name in g, summed over its label
// values (0 if g has no such metric).
func Gather(t testing.TB, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		v := 0.0
		for _, m := range mf.GetMetric() {
			v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
		return v
	}
	return 0
}

// Scrape fetches /metrics from addr (host:port) and returns each sample's value keyed by
// the sample as exposed: `name` or `name{label="value",...}`.
func Scrape(addr string) (map[string]float64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// Metric returns the value of a metric scraped from addr, summed over every sample whose
// name is name (any labels); 0 if there is none. It fails the test if the scrape fails.
func Metric(t testing.TB, addr, name string) float64 {
	t.Helper()
	m, err := Scrape(addr)
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	return sumSamples(m, name)
}

func sumSamples(m map[string]float64, name string) float64 {
	v := 0.0
	for k, x := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			v += x
		}
	}
	return v
}

// WaitMetric waits until the metric name scraped from addr (summed as Metric does)
// satisfies cond, and returns its value then (see Eventually).
func WaitMetric(t testing.TB, addr, name string, cond func(float64) bool) float64 {
	t.Helper()
	var v float64
	EventuallyErr(t, func() error {
		m, err := Scrape(addr)
		if err != nil {
			return err
		}
		if v = sumSamples(m, name); !cond(v) {
			return fmt.Errorf("%s = %v", name, v)
		}
		return nil
	})
	return v
}
