package signing

import (
	"os"
	"testing"
)

// The canonicaljson package's ~1.5 KB m.room.message PDU, as received
// (indented, keys unsorted, with signatures and unsigned).
func loadPDU(b *testing.B) []byte {
	b.Helper()
	pdu, err := os.ReadFile("../canonicaljson/testdata/pdu_message.json")
	if err != nil {
		b.Fatal(err)
	}
	return pdu
}

func BenchmarkSignJSON_PDU(b *testing.B) {
	pdu := loadPDU(b)
	key := testKey(b)
	b.SetBytes(int64(len(pdu)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SignJSON(pdu, "domain", key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyJSON_PDU(b *testing.B) {
	key := testKey(b)
	signed, err := SignJSON(loadPDU(b), "domain", key)
	if err != nil {
		b.Fatal(err)
	}
	pub := key.Public()
	b.SetBytes(int64(len(signed)))
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifyJSON(signed, "domain", key.ID, pub); err != nil {
			b.Fatal(err)
		}
	}
}
