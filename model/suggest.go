package model

import (
	"fmt"
	"strings"
)

// suggest returns the candidate closest to name by edit distance (with
// adjacent transpositions, so "vird" finds "vrid"), or "" when none is
// close enough to be a plausible typo.
func suggest(name string, candidates []string) string {
	best, bestDist := "", -1
	lower := strings.ToLower(name)
	for _, c := range candidates {
		d := editDistance(lower, strings.ToLower(c))
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	if bestDist < 0 || bestDist > maxTypoDistance(name) {
		return ""
	}
	return best
}

// didYouMean is " (did you mean X?)" for the suggestion, or "".
func didYouMean(name string, known []string) string {
	if s := suggest(name, known); s != "" && s != name {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

// maxTypoDistance allows one slip in short words and about one per four
// letters in longer ones.
func maxTypoDistance(name string) int {
	n := len([]rune(name))
	switch {
	case n <= 2:
		return 0
	case n <= 5:
		return 1
	}
	return max(2, n/4)
}

// editDistance is the optimal-string-alignment distance: insertions,
// deletions, substitutions and transpositions of neighbours each cost 1.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rows suffice: the transposition looks two rows back.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
