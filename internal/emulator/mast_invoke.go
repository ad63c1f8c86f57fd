package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

type mastRequest struct {
	Service  string          `json:"service"`
	Params   json.RawMessage `json:"params"`
	Format   string          `json:"format"`
	PageSize int             `json:"pagesize"`
	Page     int             `json:"page"`
}

func (m *MAST) invoke(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	raw := r.FormValue("request")
	if raw == "" {
		http.Error(w, "missing request parameter", http.StatusBadRequest)
		return
	}
	var req mastRequest
	if err := json.Unmarshal([]byte(raw), &req); err != nil {
		http.Error(w, "request is not JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls[req.Service]++
	key := req.Service + "\x00" + string(req.Params) + "\x00" + strconv.Itoa(req.Page)
	m.polls[key]++
	if m.polls[key] <= m.opts.Executing {
		mastWrite(w, map[string]any{"status": "EXECUTING", "msg": "", "data": []any{}, "fields": []any{}})
		return
	}
	if req.Format != "json" {
		mastError(w, fmt.Sprintf("Unsupported format %q for this endpoint", req.Format))
		return
	}
	dec := json.NewDecoder(bytes.NewReader(req.Params))
	dec.UseNumber()
	var params map[string]any
	if err := dec.Decode(&params); err != nil {
		mastError(w, "params must be a JSON object")
		return
	}
	var rows []map[string]any
	var total int
	switch req.Service {
	case "Mast.Caom.Filtered":
		var err error
		rows, err = m.filtered(params)
		if err != nil {
			mastError(w, err.Error())
			return
		}
		total = len(m.obs)
	case "Mast.Caom.Products":
		ids := strings.Split(mastScalar(params["obsid"]), ",")
		for _, id := range ids {
			rows = append(rows, m.products[strings.TrimSpace(id)]...)
		}
		total = len(rows)
	default:
		mastError(w, fmt.Sprintf("Unknown service: %s", req.Service))
		return
	}
	page, size := req.Page, req.PageSize
	if page < 1 {
		page = 1
	}
	if size < 1 {
		size = 50000
	}
	pages := max(1, int(math.Ceil(float64(len(rows))/float64(size))))
	lo := min((page-1)*size, len(rows))
	hi := min(lo+size, len(rows))
	data := rows[lo:hi]
	mastWrite(w, map[string]any{
		"status": "COMPLETE",
		"msg":    "",
		"data":   data,
		"fields": mastFields(rows),
		"paging": map[string]any{
			"page": page, "pageSize": size, "pagesFiltered": pages,
			"rows": len(data), "rowsFiltered": len(rows), "rowsTotal": total,
		},
	})
}

func mastFields(rows []map[string]any) []map[string]string {
	types := map[string]string{}
	for _, r := range rows {
		for k, v := range r {
			if _, ok := types[k]; ok && v == nil {
				continue
			}
			switch t := v.(type) {
			case json.Number:
				if _, err := t.Int64(); err == nil {
					types[k] = "int"
				} else {
					types[k] = "float"
				}
			case int, int64:
				types[k] = "int"
			case float64:
				types[k] = "float"
			case bool:
				types[k] = "boolean"
			default:
				types[k] = "string"
			}
		}
	}
	names := make([]string, 0, len(types))
	for k := range types {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]map[string]string, 0, len(names))
	for _, n := range names {
		out = append(out, map[string]string{"name": n, "type": types[n]})
	}
	return out
}

func mastWrite(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func mastError(w http.ResponseWriter, msg string) {
	mastWrite(w, map[string]any{"status": "ERROR", "msg": msg, "data": []any{}, "fields": []any{}})
}
