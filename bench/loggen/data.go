package loggen

import "math/rand/v2"

type weighted[T any] struct {
	w int
	v T
}

type str struct{ s string }

type page struct{ kind pageKind }

type pageKind uint8

// Page kinds.
const (
	pageHome pageKind = iota
	pageProduct
	pageSearch
	pageBlog
	pageAPI
	pageAsset
	pageImage
	pageRobots
	pageFavicon
	pageProbe
	numPageKinds
)

// numPageRefs is the number of leading entries of pages that a referer can name.
const numPageRefs = 4

// pickWeighted picks one entry with probability proportional to its weight.
func pickWeighted[T any](r *rand.Rand, items []weighted[T]) T {
	total := 0
	for _, it := range items {
		total += it.w
	}
	n := r.IntN(total)
	for _, it := range items {
		if n < it.w {
			return it.v
		}
		n -= it.w
	}
	return items[len(items)-1].v
}

var methods = []weighted[str]{
	{850, str{"GET"}}, {80, str{"POST"}}, {40, str{"HEAD"}}, {15, str{"PUT"}},
	{8, str{"DELETE"}}, {7, str{"OPTIONS"}},
}

var protocols = []weighted[str]{
	{60, str{"HTTP/1.1"}}, {35, str{"HTTP/2.0"}}, {5, str{"HTTP/1.0"}},
}

// pages lists page kinds with their weights; the first numPageRefs entries are the
// kinds a referer can name.
var pages = []weighted[page]{
	{80, page{pageHome}}, {160, page{pageProduct}}, {70, page{pageSearch}}, {60, page{pageBlog}},
	{120, page{pageAPI}}, {280, page{pageAsset}}, {150, page{pageImage}}, {10, page{pageRobots}},
	{40, page{pageFavicon}}, {30, page{pageProbe}},
}

var sizeMedian = [numPageKinds]float64{
	pageHome: 18000, pageProduct: 42000, pageSearch: 25000, pageBlog: 31000, pageAPI: 900,
	pageAsset: 60000, pageImage: 85000, pageRobots: 120, pageFavicon: 1150, pageProbe: 200,
}

var assets = []struct{ dir, ext string }{
	{"/static/js/app.", ".js"}, {"/static/js/vendor.", ".js"}, {"/static/css/site.", ".css"},
	{"/static/fonts/inter.", ".woff2"},
}

var probes = []string{
	"/wp-login.php", "/.env", "/xmlrpc.php", "/admin/config.php", "/.git/HEAD",
	"/cgi-bin/luci/;stok=/locale?form=country", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
}

var words = []string{
	"alpine", "bicycle", "camera", "desk", "espresso", "forest", "guitar", "harbor", "island",
	"jacket", "kettle", "lantern", "maple", "notebook", "orchid", "pepper", "quartz", "river",
	"saddle", "teapot", "umbrella", "velvet", "walnut", "yarn", "zephyr", "linen", "copper",
}

var users = []string{"-", "alice", "bob", "carol", "dave", "erin", "svc-deploy"}

const siteHost = "www.example.com"

var searchEngines = []string{
	"https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/",
	"https://www.google.co.uk/", "https://search.brave.com/",
}

var ipv6Prefixes = []string{"2001:db8", "2a02:810", "2600:1700", "2a01:4f8", "2406:da18"}

var userAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
	"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
	"curl/8.5.0",
	"python-requests/2.32.3",
	"Go-http-client/2.0",
	"Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
}
