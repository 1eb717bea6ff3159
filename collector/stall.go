package collector

import (
	"errors"
	"syscall"

	"github.com/logspread/logspread/formats/envelope"
)

// stallReasons are the reasons a collector reports itself stalled for.
var stallReasons = []envelope.StallReason{envelope.StallPermission, envelope.StallNoSpace, envelope.StallIO, envelope.StallOther}

// stallReason classifies a failed segment write or state save by what an operator
// does about it: EACCES, EPERM and EROFS are permissions, ENOSPC and EDQUOT space, EIO
// the device; anything else is "other".
func stallReason(err error) envelope.StallReason {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return envelope.StallOther
	}
	switch errno {
	case syscall.EACCES, syscall.EPERM, syscall.EROFS:
		return envelope.StallPermission
	case syscall.ENOSPC, syscall.EDQUOT:
		return envelope.StallNoSpace
	case syscall.EIO:
		return envelope.StallIO
	}
	return envelope.StallOther
}
