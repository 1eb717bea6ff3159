package source

import "github.com/logspread/logspread/formats/envelope"

func appendBatchForTest(h envelope.BatchHeader, body []byte) []byte {
	return envelope.AppendBatch(nil, h, body)
}

func verifyBatchForTest(msg []byte) error {
	h, body, err := envelope.ParseBatch(msg)
	if err != nil {
		return err
	}
	return h.VerifyBody(body)
}
