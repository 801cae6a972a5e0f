libtether_internal_la_SOURCES += \
	policies/builtin.h \
	policies/fixed.c \
	policies/exponential.c \
	policies/adaptive.c \
	policies/breaker.c
