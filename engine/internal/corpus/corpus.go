package corpus

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
)

// Random returns n pseudo-random (incompressible) bytes determined by seed.
func Random(seed uint64, n int) []byte {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(s).Read(b) // ChaCha8.Read never fails
	return b
}

// Text returns n bytes of compressible, text-like data determined by seed:
// lines of words drawn with a skewed distribution from a vocabulary of
// generated words, mixed with numbers, the way logs, sources and documents
// look to a compressor.
func Text(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	vocab := make([]string, 2048)
	const letters = "etaoinshrdlcumwfgypbvkjxqz"
	for i := range vocab {
		w := make([]byte, 2+rng.IntN(9))
		for j := range w {
			// Skewed letter choice: frequent letters dominate.
			w[j] = letters[min(rng.IntN(26), rng.IntN(26))]
		}
		vocab[i] = string(w)
	}
	b := make([]byte, 0, n+64)
	col := 0
	for len(b) < n {
		switch r := rng.IntN(100); {
		case r < 6:
			b = strconv.AppendUint(b, rng.Uint64N(1_000_000), 10)
		default:
			// Zipf-like: small indices much more likely.
			i := rng.IntN(len(vocab))
			i = i * rng.IntN(len(vocab)) / len(vocab)
			b = append(b, vocab[i]...)
		}
		col++
		if col > 8+rng.IntN(8) {
			b = append(b, '\n')
			col = 0
		} else {
			b = append(b, ' ')
		}
	}
	return b[:n]
}
