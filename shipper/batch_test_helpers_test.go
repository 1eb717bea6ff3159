package shipper

import "github.com/logspread/logspread/formats"

func appendBatchForTest(h formats.BatchHeader, body []byte) []byte {
	return formats.AppendBatch(nil, h, body)
}

func verifyBatchForTest(msg []byte) error {
	h, body, err := formats.ParseBatch(msg)
	if err != nil {
		return err
	}
	return h.VerifyBody(body)
}
