/* tp/trainprog.h: everything a trainer links against, in one include. */
#ifndef TP_TRAINPROG_H
#define TP_TRAINPROG_H

#include <tp/progress.h>
#include <tp/tracker.h>
#include <tp/notify.h>

#define TP_VERSION	"0.1.0"

#endif /* TP_TRAINPROG_H */
