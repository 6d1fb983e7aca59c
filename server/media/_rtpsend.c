/* RtpSender: the forwarding hot path's last three steps for one viewer m-line, in C.
 *
 * Writes the RTP header from the m-line's template (what server/media/rtp_writer.py's RtpWriter.packet
 * writes), protects the packet in place with the viewer's SRTP session (libsrtp's srtp_protect, reached
 * through pylibsrtp's own binding: the address of the function and of the session are handed in), and
 * sends it with sendto(2) on the nominated ICE pair's socket.
 *
 * The destination is "armed" from Python (server/media/aiortc_hooks/direct_send.py: arm_rtp_sender)
 * together with a list of guards: identity checks on the aiortc/aioice/asyncio objects the destination
 * came from (DTLS state, SRTP session, nominated pair, the UDP transport's queue). Every send checks them first; when one
 * fails the sender disarms and returns -1, and the caller takes the Python path, which re-arms. The
 * sender keeps references to every object it checks and to the SRTP session, so the raw pointers it
 * holds stay valid while it is armed.
 *
 * Optional: when this module is not built (no C compiler), the Python path is used throughout.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#define BUFFER_BYTES 1500      /* pylibsrtp's session buffer: what the Python path can protect */
#define MAX_LAYOUTS 16         /* per-packet extension element lengths: 0 .. 2*2+3+1 */
#define MAX_TRAILER_BYTES 272  /* mid element (two-byte form: 2 + 255) + 3 bytes of padding */
#define RTP_VERSION_BITS 0x80
#define EXTENSION_BIT 0x10
#define MARKER_BIT 0x80

#define GUARD_ATTR_IS 0    /* getattr(obj, name) is expected */
#define GUARD_ITEM_IS 1    /* obj.get(name) is expected (obj: a dict) */
#define GUARD_ATTR_EMPTY 2 /* len(getattr(obj, name)) == 0 */

typedef int (*srtp_protect_fn)(void *ctx, void *rtp, int *len);

typedef struct {
    PyObject *obj;
    PyObject *name;
    PyObject *expected;
    int kind;
} Guard;

typedef struct {
    PyObject_HEAD
    /* header template */
    uint8_t payload_type;
    uint32_t ssrc;
    uint16_t profile;
    Py_ssize_t layouts;
    uint8_t words[MAX_LAYOUTS];
    uint8_t trailer_len[MAX_LAYOUTS];
    uint8_t trailer[MAX_LAYOUTS][MAX_TRAILER_BYTES];
    /* destination (armed) */
    int armed;
    int fd;
    struct sockaddr_storage address;
    socklen_t address_len;
    PyObject *address_tuple;
    PyObject *fallback; /* the UDP transport's sendto(data, address): queues when the socket is full */
    PyObject *session;  /* keeps the SRTP session (and so `srtp`) alive */
    void *srtp;
    srtp_protect_fn protect;
    Py_ssize_t max_packet_bytes;
    Guard *guards;
    Py_ssize_t guard_count;
    /* counters */
    unsigned long long sent;
    unsigned long long handed_over;
    unsigned long long disarms;
    uint8_t buffer[BUFFER_BYTES];
} RtpSender;

static void
disarm(RtpSender *self)
{
    Py_ssize_t i;
    if (self->armed)
        self->disarms++;
    self->armed = 0;
    for (i = 0; i < self->guard_count; i++) {
        Py_CLEAR(self->guards[i].obj);
        Py_CLEAR(self->guards[i].name);
        Py_CLEAR(self->guards[i].expected);
    }
    PyMem_Free(self->guards);
    self->guards = NULL;
    self->guard_count = 0;
    Py_CLEAR(self->address_tuple);
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->session);
    self->srtp = NULL;
    self->protect = NULL;
}

static int
RtpSender_init(RtpSender *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"payload_type", "ssrc", "profile", "layouts", NULL};
    unsigned int payload_type;
    unsigned long ssrc;
    unsigned int profile;
    PyObject *layouts;
    Py_ssize_t i;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "IkIO", kwlist, &payload_type, &ssrc, &profile, &layouts))
        return -1;
    if (payload_type > 127 || ssrc > 0xFFFFFFFFUL || profile > 0xFFFF) {
        PyErr_SetString(PyExc_ValueError, "payload_type, ssrc or profile out of range");
        return -1;
    }
    if (!PyList_Check(layouts) && !PyTuple_Check(layouts)) {
        PyErr_SetString(PyExc_TypeError, "layouts must be a sequence of (words, trailer) pairs");
        return -1;
    }
    PyObject *seq = PySequence_Fast(layouts, "layouts must be a sequence");
    if (seq == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > MAX_LAYOUTS) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "too many layouts");
        return -1;
    }
    for (i = 0; i < n; i++) {
        unsigned int words;
        const char *trailer;
        Py_ssize_t trailer_len;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "Iy#", &words, &trailer, &trailer_len)) {
            Py_DECREF(seq);
            return -1;
        }
        if (words > 255 || trailer_len > MAX_TRAILER_BYTES) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_ValueError, "layout out of range");
            return -1;
        }
        self->words[i] = (uint8_t)words;
        self->trailer_len[i] = (uint8_t)trailer_len;
        memcpy(self->trailer[i], trailer, (size_t)trailer_len);
    }
    Py_DECREF(seq);
    disarm(self);
    self->payload_type = (uint8_t)payload_type;
    self->ssrc = (uint32_t)ssrc;
    self->profile = (uint16_t)profile;
    self->layouts = n;
    return 0;
}

static int
RtpSender_traverse(RtpSender *self, visitproc visit, void *arg)
{
    Py_ssize_t i;
    for (i = 0; i < self->guard_count; i++) {
        Py_VISIT(self->guards[i].obj);
        Py_VISIT(self->guards[i].name);
        Py_VISIT(self->guards[i].expected);
    }
    Py_VISIT(self->address_tuple);
    Py_VISIT(self->fallback);
    Py_VISIT(self->session);
    return 0;
}

static int
RtpSender_clear(RtpSender *self)
{
    disarm(self);
    return 0;
}

static void
RtpSender_dealloc(RtpSender *self)
{
    PyObject_GC_UnTrack(self);
    disarm(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
parse_address(RtpSender *self, PyObject *address)
{
    const char *host;
    int port;
    if (!PyArg_ParseTuple(address, "si", &host, &port))
        return -1;
    if (port < 0 || port > 65535) {
        PyErr_SetString(PyExc_ValueError, "port out of range");
        return -1;
    }
    memset(&self->address, 0, sizeof(self->address));
    struct sockaddr_in *v4 = (struct sockaddr_in *)&self->address;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&self->address;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        self->address_len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        self->address_len = sizeof(*v6);
    } else {
        PyErr_Format(PyExc_ValueError, "not a numeric address: %s", host);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(arm_doc,
"arm(fd, family, address, fallback, session, srtp, protect, max_packet_bytes, guards)\n\n"
"Send on socket `fd` (of address `family`) to `address` ((host, port), numeric), protecting with the\n"
"srtp_protect function at address `protect` on the srtp_t at address `srtp` (owned by `session`, kept\n"
"referenced). `fallback(data, address)` takes a protected packet the socket did not accept. `guards`:\n"
"(obj, name, expected, kind) checked before every send (kind 0: getattr(obj, name) is expected, 1:\n"
"obj.get(name) is expected, 2: len(getattr(obj, name)) == 0).");

static PyObject *
RtpSender_arm(RtpSender *self, PyObject *args)
{
    int fd, family;
    PyObject *address, *fallback, *session, *guards;
    unsigned long long srtp, protect;
    Py_ssize_t max_packet_bytes, i;

    if (!PyArg_ParseTuple(args, "iiOOOKKnO", &fd, &family, &address, &fallback, &session, &srtp, &protect,
                          &max_packet_bytes, &guards))
        return NULL;
    disarm(self);
    if (fd < 0 || srtp == 0 || protect == 0 || !PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_ValueError, "no socket, SRTP session or fallback");
        return NULL;
    }
    if (parse_address(self, address) < 0)
        return NULL;
    if (self->address.ss_family != family) {
        PyErr_SetString(PyExc_ValueError, "address family differs from the socket's");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(guards, "guards must be a sequence");
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    Guard *list = PyMem_Calloc((size_t)(n > 0 ? n : 1), sizeof(Guard));
    if (list == NULL) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    for (i = 0; i < n; i++) {
        PyObject *obj, *name, *expected;
        int kind;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "OOOi", &obj, &name, &expected, &kind))
            goto fail;
        if (kind < GUARD_ATTR_IS || kind > GUARD_ATTR_EMPTY ||
            (kind != GUARD_ITEM_IS && !PyUnicode_Check(name)) || (kind == GUARD_ITEM_IS && !PyDict_Check(obj))) {
            PyErr_SetString(PyExc_ValueError, "bad guard");
            goto fail;
        }
        if (PyUnicode_Check(name)) {
            Py_INCREF(name);
            PyUnicode_InternInPlace(&name);
        } else {
            Py_INCREF(name);
        }
        Py_INCREF(obj);
        Py_INCREF(expected);
        list[i].obj = obj;
        list[i].name = name;
        list[i].expected = expected;
        list[i].kind = kind;
    }
    Py_DECREF(seq);
    self->guards = list;
    self->guard_count = n;
    self->fd = fd;
    Py_INCREF(address);
    self->address_tuple = address;
    Py_INCREF(fallback);
    self->fallback = fallback;
    Py_INCREF(session);
    self->session = session;
    self->srtp = (void *)(uintptr_t)srtp;
    self->protect = (srtp_protect_fn)(uintptr_t)protect;
    self->max_packet_bytes = max_packet_bytes < BUFFER_BYTES ? max_packet_bytes : BUFFER_BYTES;
    self->armed = 1;
    Py_RETURN_NONE;

fail:
    for (Py_ssize_t j = 0; j < i; j++) {
        Py_DECREF(list[j].obj);
        Py_DECREF(list[j].name);
        Py_DECREF(list[j].expected);
    }
    PyMem_Free(list);
    Py_DECREF(seq);
    return NULL;
}

/* 1: all guards hold; 0: one failed; -1: error (exception set) */
static int
check_guards(RtpSender *self)
{
    Py_ssize_t i;
    for (i = 0; i < self->guard_count; i++) {
        Guard *g = &self->guards[i];
        if (g->kind == GUARD_ITEM_IS) {
            PyObject *value = PyDict_GetItemWithError(g->obj, g->name); /* borrowed */
            if (value == NULL && PyErr_Occurred())
                return -1;
            if (value != g->expected)
                return 0;
            continue;
        }
        PyObject *value = PyObject_GetAttr(g->obj, g->name);
        if (value == NULL) {
            PyErr_Clear(); /* a missing attribute: the object changed shape, take the Python path */
            return 0;
        }
        int ok;
        if (g->kind == GUARD_ATTR_IS) {
            ok = value == g->expected;
        } else {
            Py_ssize_t size = PyObject_Size(value);
            if (size < 0)
                PyErr_Clear();
            ok = size == 0;
        }
        Py_DECREF(value);
        if (!ok)
            return 0;
    }
    return 1;
}

static int
read_bytes(PyObject *obj, const uint8_t **data, Py_ssize_t *size, Py_buffer *view)
{
    if (PyBytes_Check(obj)) {
        *data = (const uint8_t *)PyBytes_AS_STRING(obj);
        *size = PyBytes_GET_SIZE(obj);
        view->obj = NULL;
        return 0;
    }
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) < 0)
        return -1;
    *data = view->buf;
    *size = view->len;
    return 0;
}

/* The packet into self->buffer; its length, or -1 when it does not fit in `limit` bytes. */
static Py_ssize_t
write_packet(RtpSender *self, uint16_t seq, uint32_t ts, int marker, const uint8_t *tail, Py_ssize_t tail_len,
             const uint8_t *payload, Py_ssize_t payload_len, Py_ssize_t limit)
{
    uint8_t *b = self->buffer;
    Py_ssize_t n;
    if (tail_len >= self->layouts)
        return -1;
    uint8_t words = self->words[tail_len];
    b[1] = marker ? (uint8_t)(self->payload_type | MARKER_BIT) : self->payload_type;
    b[2] = (uint8_t)(seq >> 8);
    b[3] = (uint8_t)seq;
    b[4] = (uint8_t)(ts >> 24);
    b[5] = (uint8_t)(ts >> 16);
    b[6] = (uint8_t)(ts >> 8);
    b[7] = (uint8_t)ts;
    b[8] = (uint8_t)(self->ssrc >> 24);
    b[9] = (uint8_t)(self->ssrc >> 16);
    b[10] = (uint8_t)(self->ssrc >> 8);
    b[11] = (uint8_t)self->ssrc;
    if (!words) {
        b[0] = RTP_VERSION_BITS;
        n = 12;
    } else {
        Py_ssize_t trailer_len = self->trailer_len[tail_len];
        if (16 + tail_len + trailer_len + payload_len > limit)
            return -1;
        b[0] = RTP_VERSION_BITS | EXTENSION_BIT;
        b[12] = (uint8_t)(self->profile >> 8);
        b[13] = (uint8_t)self->profile;
        b[14] = 0;
        b[15] = words;
        memcpy(b + 16, tail, (size_t)tail_len);
        memcpy(b + 16 + tail_len, self->trailer[tail_len], (size_t)trailer_len);
        n = 16 + tail_len + trailer_len;
    }
    if (n + payload_len > limit)
        return -1;
    memcpy(b + n, payload, (size_t)payload_len);
    return n + payload_len;
}

static int
parse_send_args(PyObject *const *args, Py_ssize_t nargs, uint16_t *seq, uint32_t *ts, int *marker)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "expected (seq, ts, marker, tail, payload)");
        return -1;
    }
    unsigned long s = PyLong_AsUnsignedLong(args[0]);
    if (s == (unsigned long)-1 && PyErr_Occurred())
        return -1;
    unsigned long t = PyLong_AsUnsignedLong(args[1]);
    if (t == (unsigned long)-1 && PyErr_Occurred())
        return -1;
    if (s > 0xFFFF || t > 0xFFFFFFFFUL) {
        PyErr_SetString(PyExc_OverflowError, "sequence number or timestamp out of range");
        return -1;
    }
    *marker = PyObject_IsTrue(args[2]);
    if (*marker < 0)
        return -1;
    *seq = (uint16_t)s;
    *ts = (uint32_t)t;
    return 0;
}

PyDoc_STRVAR(packet_doc,
"packet(seq, ts, marker, tail, payload) -> bytes\n\n"
"The RTP packet send() would protect: the same bytes as RtpWriter.packet.");

/* Parse (seq, ts, marker, tail, payload) and write the packet into self->buffer: -1 with an exception set,
 * else 0 with *n the packet's length, or -1 when it does not fit in `limit` bytes (see write_packet). */
static int
write_from_args(RtpSender *self, PyObject *const *args, Py_ssize_t nargs, Py_ssize_t limit, Py_ssize_t *n)
{
    uint16_t seq;
    uint32_t ts;
    int marker;
    const uint8_t *tail, *payload;
    Py_ssize_t tail_len, payload_len;
    Py_buffer tail_view, payload_view;
    if (parse_send_args(args, nargs, &seq, &ts, &marker) < 0)
        return -1;
    if (read_bytes(args[3], &tail, &tail_len, &tail_view) < 0)
        return -1;
    if (read_bytes(args[4], &payload, &payload_len, &payload_view) < 0) {
        if (tail_view.obj)
            PyBuffer_Release(&tail_view);
        return -1;
    }
    *n = write_packet(self, seq, ts, marker, tail, tail_len, payload, payload_len, limit);
    if (tail_view.obj)
        PyBuffer_Release(&tail_view);
    if (payload_view.obj)
        PyBuffer_Release(&payload_view);
    return 0;
}

static PyObject *
RtpSender_packet(RtpSender *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t n;
    if (write_from_args(self, args, nargs, BUFFER_BYTES, &n) < 0)
        return NULL;
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "packet too long, or no layout for this extension tail");
        return NULL;
    }
    return PyBytes_FromStringAndSize((const char *)self->buffer, n);
}

PyDoc_STRVAR(send_doc,
"send(seq, ts, marker, tail, payload) -> int\n\n"
"Write, protect and send one packet. The length of the RTP packet before protection when it was sent (or\n"
"handed to the fallback when the socket did not take it); 0 when SRTP refused the packet or it is too long; -1 when not armed or a guard\n"
"failed (nothing was done, the sender is now disarmed: take the Python path).");

static PyObject *
RtpSender_send(RtpSender *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t n;

    if (!self->armed)
        return PyLong_FromLong(-1);
    int ok = check_guards(self);
    if (ok < 0)
        return NULL;
    if (!ok) {
        disarm(self);
        return PyLong_FromLong(-1);
    }
    if (write_from_args(self, args, nargs, self->max_packet_bytes, &n) < 0)
        return NULL;
    if (n < 0)
        return PyLong_FromLong(0);
    int length = (int)n;
    if (self->protect(self->srtp, self->buffer, &length) != 0)
        return PyLong_FromLong(0);
    ssize_t sent = sendto(self->fd, self->buffer, (size_t)length, MSG_NOSIGNAL, (struct sockaddr *)&self->address,
                          self->address_len);
    if (sent == length) {
        self->sent++;
        return PyLong_FromSsize_t(n);
    }
    /* Would block, or an error to report: asyncio's transport queues the datagram or tells its protocol,
     * as it does for the Python path. Its queue is then not empty: the guard disarms on the next send. */
    PyObject *data = PyBytes_FromStringAndSize((const char *)self->buffer, length);
    if (data == NULL)
        return NULL;
    PyObject *fallback = self->fallback;
    PyObject *address = self->address_tuple;
    Py_INCREF(fallback);
    Py_INCREF(address);
    PyObject *result = PyObject_CallFunctionObjArgs(fallback, data, address, NULL);
    Py_DECREF(fallback);
    Py_DECREF(address);
    Py_DECREF(data);
    if (result == NULL)
        return NULL;
    Py_DECREF(result);
    self->handed_over++;
    return PyLong_FromSsize_t(n);
}

static PyObject *
RtpSender_disarm(RtpSender *self, PyObject *Py_UNUSED(ignored))
{
    disarm(self);
    Py_RETURN_NONE;
}

static PyObject *
RtpSender_get_armed(RtpSender *self, void *closure)
{
    return PyBool_FromLong(self->armed);
}

static PyObject *
RtpSender_get_payload_type(RtpSender *self, void *closure)
{
    return PyLong_FromLong(self->payload_type);
}

static int
RtpSender_set_payload_type(RtpSender *self, PyObject *value, void *closure)
{
    long pt;
    if (value == NULL) {
        PyErr_SetString(PyExc_TypeError, "payload_type cannot be deleted");
        return -1;
    }
    pt = PyLong_AsLong(value);
    if (pt == -1 && PyErr_Occurred())
        return -1;
    if (pt < 0 || pt > 127) {
        PyErr_SetString(PyExc_ValueError, "payload_type out of range");
        return -1;
    }
    self->payload_type = (uint8_t)pt;
    return 0;
}

static PyObject *
RtpSender_get_counts(RtpSender *self, void *closure)
{
    return Py_BuildValue("(KKK)", self->sent, self->handed_over, self->disarms);
}

static PyMethodDef RtpSender_methods[] = {
    {"arm", (PyCFunction)RtpSender_arm, METH_VARARGS, arm_doc},
    {"disarm", (PyCFunction)RtpSender_disarm, METH_NOARGS, "Forget the destination."},
    {"send", (PyCFunction)(void (*)(void))RtpSender_send, METH_FASTCALL, send_doc},
    {"packet", (PyCFunction)(void (*)(void))RtpSender_packet, METH_FASTCALL, packet_doc},
    {NULL},
};

static PyGetSetDef RtpSender_getset[] = {
    {"armed", (getter)RtpSender_get_armed, NULL, "True while send() writes to the socket itself.", NULL},
    {"payload_type", (getter)RtpSender_get_payload_type, (setter)RtpSender_set_payload_type,
     "Payload type written in the following packets (the RED viewer's or the Opus one).", NULL},
    {"counts", (getter)RtpSender_get_counts, NULL,
     "(packets sent by sendto, packets handed to the fallback, times disarmed)", NULL},
    {NULL},
};

static PyTypeObject RtpSenderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "server.media._rtpsend.RtpSender",
    .tp_doc = PyDoc_STR("RtpSender(payload_type, ssrc, profile, layouts): write + SRTP-protect + sendto for one "
                        "viewer m-line (layouts: (header extension words, mid element + padding) indexed by the "
                        "length of the per-packet extension elements, as RtpWriter)."),
    .tp_basicsize = sizeof(RtpSender),
    .tp_itemsize = 0,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)RtpSender_init,
    .tp_dealloc = (destructor)RtpSender_dealloc,
    .tp_traverse = (traverseproc)RtpSender_traverse,
    .tp_clear = (inquiry)RtpSender_clear,
    .tp_methods = RtpSender_methods,
    .tp_getset = RtpSender_getset,
};

static struct PyModuleDef rtpsend_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "server.media._rtpsend",
    .m_doc = "Write + SRTP-protect + sendto of forwarded RTP in C (optional accelerator of the SFU hot path).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__rtpsend(void)
{
    if (PyType_Ready(&RtpSenderType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&rtpsend_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&RtpSenderType);
    if (PyModule_AddObject(m, "RtpSender", (PyObject *)&RtpSenderType) < 0) {
        Py_DECREF(&RtpSenderType);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "GUARD_ATTR_IS", GUARD_ATTR_IS) < 0 ||
        PyModule_AddIntConstant(m, "GUARD_ITEM_IS", GUARD_ITEM_IS) < 0 ||
        PyModule_AddIntConstant(m, "GUARD_ATTR_EMPTY", GUARD_ATTR_EMPTY) < 0 ||
        PyModule_AddIntConstant(m, "BUFFER_BYTES", BUFFER_BYTES) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
